"""The ``TokenSigner`` port: RS256 platform tokens with PyJWT over a key ring.

PyJWT builds and checks every JWS: signing goes through the key ring's
``SigningBackend`` (a file key or AWS KMS) registered as
PyJWT's RS256 algorithm for encoding; verification picks the public key by
``kid`` inside PyJWT's own single parse. Time claims are checked against the
``Clock`` port, not PyJWT's wall clock.

A token that verified once is recognised again by its exact string, without
another RSA verify (``cache_size`` entries, least recently used dropped
first): a hit re-applies the time rules. Only successes are cached. The key
ring is fixed for the signer's life: a rotation is a new process (a deploy, a
cold start) with a new ring, so a cached token's key is always in it.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import attrs
import jwt
from jwt.algorithms import RSAAlgorithm
from jwt.api_jws import PyJWS
from jwt.exceptions import InvalidTokenError

from ..domain.errors import AuthError, InvalidToken, NotConfigured, TokenExpired
from ..domain.model import MAX_GENERATION, TokenClaims
from ..domain.ports import Clock
from .jws_segments import FastSegmentJWS
from .key_files import ALGORITHM
from .key_ring import KeyRing, SigningBackend
from .lru import LRUCache

MAX_TOKEN_BYTES = 8192
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "jti"]
FORBIDDEN_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c", "crit"})
DEFAULT_CACHE_SIZE = 10_000

# (exp, iat, nbf) as the token states them, re-checked on every cache hit.
TimeClaims = tuple[float, float, float | None]
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


def _time_claim(payload: Mapping[str, Any], name: str) -> float | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"claim {name} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidToken(f"claim {name} is not finite")
    return value


def _required_time_claim(payload: Mapping[str, Any], name: str) -> float:
    value = _time_claim(payload, name)
    if value is None:
        raise InvalidToken(f"claim {name} is missing")
    return value


def _generation_claim(payload: Mapping[str, Any]) -> int | None:
    value = payload.get("gen")
    if value is None and "gen" not in payload:
        return None
    if type(value) is not int or not 0 <= value < MAX_GENERATION:
        raise InvalidToken("claim gen is not an integer in [0, 2**53)")
    return value


@attrs.frozen
class TimeRules:
    """When a token is acceptable: ``exp``, ``nbf``, ``iat`` and the maximum
    lifetime, each with the leeway, against the time it is now."""

    leeway: int
    max_token_ttl: int

    def check(self, now: float, exp: float, iat: float, nbf: float | None) -> None:
        """Raises TokenExpired, or InvalidToken (not yet valid, issued in the
        future, lived too long)."""
        if exp <= now - self.leeway:
            raise TokenExpired()
        if nbf is not None and nbf > now + self.leeway:
            raise InvalidToken("token not yet valid (nbf)")
        if iat > now + self.leeway:
            raise InvalidToken("token issued in the future (iat)")
        if exp - iat > self.max_token_ttl + self.leeway:
            raise InvalidToken("token lifetime above the maximum")


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
        if token_ttl <= 0 or token_ttl > max_token_ttl:
            raise NotConfigured(
                "the token lifetime must be between 1 s and the maximum"
            )
        self._key_ring = key_ring
        self._clock = clock
        self._issuer, self._audience = issuer, audience  # pinned, both ways
        self._token_ttl = token_ttl
        self._rules = TimeRules(leeway, max_token_ttl)
        self._new_jti = new_jti
        self._jwt = jwt.PyJWT(
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "strict_aud": True,
                "require": REQUIRED_CLAIMS,
            }
        )
        self._jwt._jws = _KeyRingJWS(algorithms=[ALGORITHM])
        self._encoder = jwt.PyJWT()
        self._encoder._jws = PyJWS(algorithms=[])
        self._encoder._jws.register_algorithm(ALGORITHM, _BackendRS256())
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
        if ring.signer is None or ring.signing_kid is None:
            raise NotConfigured("no signing key is configured")
        if not subject.strip():
            raise ValueError("the subject must be a non-blank string")
        if type(generation) is not int or not 0 <= generation < MAX_GENERATION:
            raise ValueError("the generation must be an integer in [0, 2**53)")
        issued_at = math.floor(self._clock.now())
        payload = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "iat": issued_at,
            "exp": issued_at + self._token_ttl,
            "jti": self._new_jti(),
            "gen": generation,
        }
        return self._encoder.encode(
            payload,
            cast(Any, ring.signer),
            algorithm=ALGORITHM,
            headers={"kid": ring.signing_kid},
        )

    def validate_token(self, token: str) -> TokenClaims:
        entries = self._entries
        if entries is None or not isinstance(cast(object, token), str):
            return self._verify(token)[0]
        entry = entries.get(token)
        if entry is None:
            entry = self._verify(token)
            entries.put(token, entry)
            return entry[0]
        claims, (exp, iat, nbf) = entry
        self._check_time_rules(exp, iat, nbf)
        return claims

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
            decoded = self._jwt.decode_complete(
                token,
                key=cast(Any, self._key_ring),
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
            )
            return self._claims(decoded["header"], decoded["payload"])
        except AuthError:
            raise
        except Exception as exc:  # any decoding failure is a bad token, never a crash
            raise InvalidToken(type(exc).__name__) from exc

    def _claims(self, header: Mapping[str, Any], payload: Mapping[str, Any]) -> _Entry:
        sub = payload["sub"]
        if not isinstance(sub, str) or not sub:
            raise InvalidToken("claim sub is empty")
        exp = _required_time_claim(payload, "exp")
        iat = _required_time_claim(payload, "iat")
        nbf = _time_claim(payload, "nbf")
        generation = _generation_claim(payload)
        self._check_time_rules(exp, iat, nbf)
        claims = TokenClaims(
            sub=sub,
            iss=payload["iss"],
            aud=payload["aud"],
            iat=math.floor(iat),
            exp=math.floor(exp),
            jti=payload["jti"],
            kid=header["kid"],
            nbf=None if nbf is None else math.floor(nbf),
            gen=generation,
        )
        return claims, (exp, iat, nbf)

    def _check_time_rules(self, exp: float, iat: float, nbf: float | None) -> None:
        self._rules.check(self._clock.now(), exp, iat, nbf)
