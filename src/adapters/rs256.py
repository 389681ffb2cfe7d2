"""The ``TokenSigner`` port: RS256 platform tokens with PyJWT over a key ring.

PyJWT builds and checks every JWS: signing goes through the key ring's
``SigningBackend`` (a file key or AWS KMS) registered as
PyJWT's RS256 algorithm for encoding; verification picks the public key by
``kid`` inside PyJWS's own single parse. The registered claims are checked
after that by ``ClaimRules`` (registered_claims.py), at least as strictly as
PyJWT's ``decode`` would, against the ``Clock`` port rather than the wall
clock.

A token that verified once is recognised again by its exact string, without
another RSA verify (``cache_size`` entries, least recently used dropped
first): a hit re-applies the time rules. Only successes are cached. The key
ring is fixed for the signer's life: a rotation is a new process (a deploy, a
cold start) with a new ring, so a cached token's key is always in it.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any, cast

from jwt.algorithms import RSAAlgorithm
from jwt.api_jws import PyJWS
from jwt.exceptions import InvalidTokenError

from ..domain.errors import AuthError, InvalidToken, NotConfigured
from ..domain.model import MAX_GENERATION, TokenClaims
from ..domain.ports import Clock
from .jws_segments import FastSegmentJWS
from .key_files import ALGORITHM
from .key_ring import KeyRing, SigningBackend
from .lru import LRUCache
from .registered_claims import ClaimRules, TimeClaims

MAX_TOKEN_BYTES = 8192
FORBIDDEN_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c", "crit"})
DEFAULT_CACHE_SIZE = 10_000

_ALGORITHMS = [ALGORITHM]

# PyJWT's ``encode`` writes a claims set as compact ASCII JSON. Ours always
# has the same names in the same order, so it is written from a head made by
# that encoder once, strings escaped by the encoder's own function and
# integers as JSON writes them: the bytes ``json.dumps(claims,
# separators=(",", ":"))`` makes (a differential test holds the two equal),
# for a tenth of the cost.
_CLAIMS_JSON = json.JSONEncoder(separators=(",", ":"))

# The verified claims and what a cache hit re-checks against the clock.
_Entry = tuple[TokenClaims, TimeClaims]


class _BackendRS256(RSAAlgorithm):
    """PyJWT's RS256 whose signing key is a ``SigningBackend``."""

    def __init__(self) -> None:
        super().__init__(RSAAlgorithm.SHA256)

    def prepare_key(self, key: Any) -> Any:
        return key

    def check_key_length(self, key: Any) -> str | None:
        return super().check_key_length(cast(SigningBackend, key).public_key)

    def sign(self, msg: bytes, key: Any) -> bytes:
        return cast(SigningBackend, key).sign(msg)


class _KeyRingJWS(FastSegmentJWS):
    """PyJWS that picks the verification key by ``kid`` during its one parse
    (its segments decoded at C speed: ``jws_segments``)."""

    def _validate_headers(
        self, headers: dict[str, Any], *, encoding: bool = False
    ) -> None:
        if not encoding:
            forbidden = FORBIDDEN_HEADERS.intersection(headers)
            if forbidden:
                raise InvalidTokenError(
                    f"forbidden header parameter {sorted(forbidden)}"
                )
            if not isinstance(headers.get("kid"), str):
                raise InvalidTokenError("the token names no key (kid)")
        super()._validate_headers(headers, encoding=encoding)

    def _verify_signature(
        self,
        signing_input: bytes,
        header: dict[str, Any],
        signature: bytes,
        key: Any = "",
        algorithms: Sequence[str] | None = None,
        options: Any = None,
    ) -> None:
        ring = cast(KeyRing, key)
        kid = header.get("kid")
        public = ring.verification_keys.get(kid) if isinstance(kid, str) else None
        if public is None:
            raise InvalidTokenError("unknown key id")
        super()._verify_signature(
            signing_input, header, signature, public, algorithms, options
        )


def _random_jti() -> str:
    return secrets.token_urlsafe(16)


class RS256TokenSigner:
    """``TokenSigner`` for RS256 JWTs (PyJWT), issuer and audience pinned, with
    a bounded, thread-safe cache of verified tokens (``cache_size=0``: none).
    ``new_jti`` makes each token's ``jti`` (random by default; tests fix it)."""

    def __init__(
        self,
        key_ring: KeyRing,
        clock: Clock,
        *,
        issuer: str = "wikibot.io",
        audience: str = "wikibot.io",
        token_ttl: int = 86400,
        max_token_ttl: int = 86400,
        leeway: int = 30,
        cache_size: int = DEFAULT_CACHE_SIZE,
        new_jti: Callable[[], str] = _random_jti,
    ) -> None:
        if type(token_ttl) is not int:  # written into every token as is
            raise TypeError("the token lifetime is a whole number of seconds")
        if token_ttl <= 0 or token_ttl > max_token_ttl:
            raise NotConfigured(
                "the token lifetime must be between 1 s and the maximum"
            )
        if not issuer or not audience:
            raise NotConfigured("the issuer and the audience must be non-empty")
        self._key_ring = key_ring
        self._clock = clock
        self._issuer, self._audience = issuer, audience  # pinned, both ways
        self._claims_head = (
            _CLAIMS_JSON.encode({"iss": issuer, "aud": audience})[:-1] + ',"sub":'
        )
        self._token_ttl = token_ttl
        self._rules = ClaimRules(
            issuer, audience, leeway=leeway, max_token_ttl=max_token_ttl
        )
        self._new_jti = new_jti
        # PyJWT's JWS layer verifies; the claims are ClaimRules' (see above).
        self._jws = _KeyRingJWS(algorithms=_ALGORITHMS)
        # PyJWT's JWS layer signs too: it builds the header, the segments and
        # the signing input, and asks the backend for the signature. The
        # claims are ours, so PyJWT's JWT layer (a copy of the dict, datetime
        # conversions, a JSON encoder made per call) is skipped.
        self._encoder = PyJWS(algorithms=[])
        self._encoder.register_algorithm(ALGORITHM, _BackendRS256())
        self._headers = (
            None if key_ring.signing_kid is None else {"kid": key_ring.signing_kid}
        )
        self._entries: LRUCache[str, _Entry] | None = (
            LRUCache(cache_size) if cache_size > 0 else None
        )

    @property
    def token_ttl(self) -> int:
        return self._token_ttl

    @property
    def key_ring(self) -> KeyRing:
        return self._key_ring

    @property
    def cache_size(self) -> int:
        return 0 if self._entries is None else self._entries.max_entries

    def cached_tokens(self) -> int:
        """How many verified tokens are remembered now."""
        return 0 if self._entries is None else len(self._entries)

    def create_token(self, subject: str, *, generation: int = 0) -> str:
        ring = self._key_ring
        if ring.signer is None or self._headers is None:
            raise NotConfigured("no signing key is configured")
        if not subject.strip():
            raise ValueError("the subject must be a non-blank string")
        if type(generation) is not int or not 0 <= generation < MAX_GENERATION:
            raise ValueError("the generation must be an integer in [0, 2**53)")
        issued_at = math.floor(self._clock.now())
        # {"iss", "aud", "sub", "iat", "exp", "jti", "gen"}, as json.dumps writes it
        claims = (
            f"{self._claims_head}{_json_string(subject)},"
            f'"iat":{issued_at},"exp":{issued_at + self._token_ttl},'
            f'"jti":{_json_string(self._new_jti())},"gen":{generation}}}'
        )
        return self._encoder.encode(
            claims.encode("ascii"),
            cast(Any, ring.signer),
            algorithm=ALGORITHM,
            headers=self._headers,
        )

    def validate_token(self, token: str) -> TokenClaims:
        entries = self._entries
        if entries is None or type(token) is not str:
            return self._verify(token)[0]
        entry = entries.get(token)
        if entry is None:
            entry = self._verify(token)
            entries.put(token, entry)
            return entry[0]
        self._rules.check_times(self._clock.now(), entry[1])
        return entry[0]

    def acceptable_between(self, claims: TokenClaims) -> tuple[float, float]:
        # check_times passes for every t in [start, end), a second inside
        # each bound: no rounding matters, nor that ``iat`` and ``nbf`` come
        # rounded down here (they are checked as the token states them).
        leeway = self._rules.leeway
        earliest = claims.iat if claims.nbf is None else max(claims.iat, claims.nbf)
        return earliest - leeway + 1, claims.exp + leeway - 1

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return self._key_ring.jwks()

    def _verify(self, token: str) -> _Entry:
        if not isinstance(token, str) or not token:
            raise InvalidToken("empty token")
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken("token too long")
        if "=" in token:  # compact JWS is unpadded (RFC 7515 section 2)
            raise InvalidToken("padded token segment")
        try:
            decoded = self._jws.decode_complete(
                token, key=cast(Any, self._key_ring), algorithms=_ALGORITHMS
            )
            return self._rules.verified(
                decoded["header"]["kid"], decoded["payload"], self._clock.now()
            )
        except AuthError:
            raise
        except Exception as exc:  # any decoding failure is a bad token, never a crash
            raise InvalidToken(type(exc).__name__) from exc
