"""The registered claims of a platform token, checked after PyJWS verified it.

PyJWT's JWS layer parses the token and verifies its signature (algorithm
pinned, key by ``kid``); what it hands back is a verified header and the
payload's bytes. ``ClaimRules`` parses those bytes and checks the claims in
one pass, at least as strictly as ``jwt.decode`` with our options and with
PyJWT's own time checks at our leeway (``tests/integration/
test_claims_differential.py`` holds it to that over generated claim sets):

- the payload is one JSON object, UTF-8, with nothing before or after it;
- ``iss`` and ``aud`` are strings equal to ours (``aud`` never a list);
- ``sub`` is a non-empty string, ``jti`` a string;
- ``iat`` and ``exp`` (and ``nbf`` when present) are finite JSON numbers,
  never bools, strings or null; ``gen``, when present, an integer in
  ``[0, 2**53)``;
- ``exp`` rounded down is after ``now - leeway`` (PyJWT truncates too),
  ``iat`` and ``nbf`` are not after ``now + leeway``, and the token does not
  live longer than the maximum lifetime plus the leeway.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..domain.errors import InvalidToken, TokenExpired
from ..domain.model import MAX_GENERATION, TokenClaims

# The claims every platform token carries (``gen`` apart: tokens minted
# before the revocation counter have none).
REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "exp", "jti")

# What a cache hit re-checks against the time it is then: ``exp`` rounded
# down, ``iat`` and ``nbf`` as the token states them.
TimeClaims = tuple[int, int | float, int | float | None]

_DECODER = json.JSONDecoder()


def _number(value: Any, name: str) -> int | float:
    # JSON gives int, float, str, bool, None, list or dict: ``type(...) is``
    # leaves bools out.
    kind = type(value)
    if kind is int or (kind is float and math.isfinite(value)):
        return value  # type: ignore[no-any-return]
    raise InvalidToken(f"claim {name} is not a finite number")


def _generation(payload: dict[str, Any]) -> int | None:
    if "gen" not in payload:
        return None
    value = payload["gen"]
    if type(value) is not int or not 0 <= value < MAX_GENERATION:
        raise InvalidToken("claim gen is not an integer in [0, 2**53)")
    return value


def parse_payload(payload: bytes) -> dict[str, Any]:
    """The payload's one JSON object (UTF-8, nothing around it).

    Raises:
        InvalidToken, or ValueError/RecursionError from the JSON decoder.
    """
    text = payload.decode("utf-8")
    if text[:1] != "{":
        raise InvalidToken("the payload is not a JSON object")
    claims, end = _DECODER.raw_decode(text)
    if end != len(text):
        raise InvalidToken("the payload is not one JSON object")
    return claims  # type: ignore[no-any-return]


class ClaimRules:
    """Our issuer and audience, the leeway and the maximum lifetime."""

    __slots__ = ("audience", "issuer", "leeway", "max_token_ttl")

    def __init__(
        self, issuer: str, audience: str, *, leeway: int, max_token_ttl: int
    ) -> None:
        if not issuer or not audience:
            raise ValueError("the issuer and the audience are non-empty strings")
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.max_token_ttl = max_token_ttl

    def verified(
        self, kid: str, payload: bytes, now: float
    ) -> tuple[TokenClaims, TimeClaims]:
        """The claims of a token whose signature PyJWS verified, and what a
        cache hit re-checks.

        Raises:
            TokenExpired, InvalidToken; ValueError, RecursionError or
            OverflowError on payloads no token of ours has (the caller turns
            any exception into InvalidToken).
        """
        claims = parse_payload(payload)
        get = claims.get
        iss, aud, sub, jti = get("iss"), get("aud"), get("sub"), get("jti")
        if type(iss) is not str or iss != self.issuer:
            raise InvalidToken("claim iss is not our issuer")
        if type(aud) is not str or aud != self.audience:
            raise InvalidToken("claim aud is not our audience")
        if type(sub) is not str or not sub:
            raise InvalidToken("claim sub is not a non-empty string")
        if type(jti) is not str:
            raise InvalidToken("claim jti is not a string")
        exp = _number(get("exp"), "exp")
        iat = _number(get("iat"), "iat")
        nbf = _number(claims["nbf"], "nbf") if "nbf" in claims else None
        generation = _generation(claims)
        times = (math.floor(exp), iat, nbf)
        self.check_times(now, times)
        if exp - iat > self.max_token_ttl + self.leeway:
            raise InvalidToken("token lifetime above the maximum")
        # Positional (keywords cost a third more): sub, iss, aud, iat, exp,
        # jti, kid, nbf, gen.
        return TokenClaims(
            sub,
            iss,
            aud,
            math.floor(iat),
            times[0],
            jti,
            kid,
            None if nbf is None else math.floor(nbf),
            generation,
        ), times

    def check_times(self, now: float, times: TimeClaims) -> None:
        """Raises TokenExpired, or InvalidToken (not yet valid, issued in the
        future): the same expressions as PyJWT's, at our leeway."""
        exp, iat, nbf = times
        leeway = self.leeway
        if exp <= now - leeway:
            raise TokenExpired()
        if nbf is not None and nbf > now + leeway:
            raise InvalidToken("token not yet valid (nbf)")
        if iat > now + leeway:
            raise InvalidToken("token issued in the future (iat)")
