"""The ``TokenSigner`` port with a verified-token cache in front of RS256.

A token that verified once is recognised again by its exact string, without
another RSA verify: a hit re-applies the time rules against the ``Clock`` (the
RS256 signer's own ``check_time_rules``) and checks that the token's ``kid`` is
still in the current key ring. Only successes are cached.

Eviction is least-recently-used: the tokens of active sessions are the ones
presented again, so they stay, while a burst of one-off tokens (each of which
had to carry a valid signature to get in) pushes out only the coldest entries.
"""

from __future__ import annotations

import threading
from typing import cast

from ..domain.errors import InvalidToken
from ..domain.model import TokenClaims
from .lru import LRUCache
from .rs256 import KeyRing, RS256TokenSigner, TimeClaims

DEFAULT_MAX_ENTRIES = 10_000

_Entry = tuple[TokenClaims, TimeClaims]


class CachingTokenSigner:
    """``TokenSigner`` decorator: a bounded, thread-safe cache of verified
    tokens around an ``RS256TokenSigner``; the rest is forwarded."""

    def __init__(
        self, inner: RS256TokenSigner, *, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        self._inner = inner
        self._entries: LRUCache[str, _Entry] = LRUCache(max_entries)
        self._keys_lock = threading.Lock()

    @property
    def token_ttl(self) -> int:
        return self._inner.token_ttl

    @property
    def key_ring(self) -> KeyRing:
        return self._inner.key_ring

    @property
    def max_entries(self) -> int:
        return self._entries.max_entries

    def __len__(self) -> int:
        return len(self._entries)

    def replace_keys(self, key_ring: KeyRing) -> None:
        """Swap the key ring and drop the tokens of keys that left it.

        A hit checks the ``kid`` against the ring it reads at that moment, so
        no token of a removed key is served even while the purge runs.
        """
        with self._keys_lock:
            self._inner.replace_keys(key_ring)
            kept = key_ring.verification_keys
            self._entries.retain(lambda entry: entry[0].kid in kept)

    def create_token(self, subject: str, *, min_issued_at: int = 0) -> str:
        return self._inner.create_token(subject, min_issued_at=min_issued_at)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return self._inner.jwks()

    def validate_token(self, token: str) -> TokenClaims:
        if not isinstance(cast(object, token), str):  # untyped callers
            return self._inner.validate_token(token)
        entry = self._entries.get(token)
        if entry is None:
            entry = self._inner.verify(token)
            self._entries.put(token, entry)
        claims, (exp, iat, nbf) = entry
        if claims.kid not in self._inner.key_ring.verification_keys:
            self._entries.pop(token)
            raise InvalidToken("unknown key id")
        self._inner.check_time_rules(exp, iat, nbf)
        return claims
