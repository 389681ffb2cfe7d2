"""Verify an OpenID Connect ID token with PyJWT against its provider's JWKS.

OpenID Connect Core 1.0 §3.1.3.7. A shared technical helper of the OpenID
Connect adapter, not an adapter. The JWKS is cached by ``kid``; a token naming
an unknown ``kid`` refetches it at most once a minute (a provider rotating its
keys is followed; a stream of forged kids is not a stream of requests). Only
asymmetric keys fit for the token's algorithm are ever used, so no token can
choose ``none``, an HMAC keyed by a public key, or a key of another type.
Signature, ``iss``, ``aud``, ``azp``, ``exp``, ``iat``, ``nbf`` and ``nonce``
are checked; no failure carries the token, its claims or PyJWT's message, and
none is chained.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import jwt

from ..domain.errors import IdPError, IdPUnavailable, LoginFailed
from .jws_segments import FastSegmentJWS
from .oauth_client import is_text

logger = logging.getLogger("wikibot_auth.oidc")

JWKS_REFETCH_INTERVAL = 60.0
MAX_ID_TOKEN_BYTES = 16_384
# RFC 7518 §6 / RFC 8037: the key type (and curve) each algorithm may use.
_KEY_TYPES = {
    "RS256": ("RSA", None),
    "PS256": ("RSA", None),
    "ES256": ("EC", ("P-256",)),
    "EdDSA": ("OKP", ("Ed25519", "Ed448")),
}


# PyJWT with its segments decoded at C speed (an ID token is read twice:
# its header to pick the key, then the whole token).
_JWT = jwt.PyJWT()
_JWT._jws = FastSegmentJWS()

_Slot = tuple[str | None, str]
_State = tuple[list[dict[str, Any]], dict[_Slot, jwt.PyJWK]]


def _fits(jwk: dict[str, Any], algorithm: str) -> bool:
    kty, curves = _KEY_TYPES[algorithm]
    if jwk.get("kty") != kty or (curves is not None and jwk.get("crv") not in curves):
        return False
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", algorithm) != algorithm:
        return False
    key_ops = jwk.get("key_ops")
    return key_ops is None or (isinstance(key_ops, list) and "verify" in key_ops)


class JWKSCache:
    """The verification keys of one provider, by ``kid``.

    ``fetch(deadline)`` returns the decoded JWKS document (raising the
    domain's errors). The first use fetches it; a token naming a key the set
    lacks refetches it, at most once per ``refetch_interval`` seconds.
    """

    def __init__(
        self,
        fetch: Callable[[float], Any],
        *,
        refetch_interval: float = JWKS_REFETCH_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._interval = refetch_interval
        self._monotonic = monotonic
        self._fetching = threading.Lock()
        # The set and the keys loaded from it, replaced together.
        self._state: _State | None = None
        self._refetched_at: float | None = None

    def key(self, kid: str | None, algorithm: str, deadline: float) -> jwt.PyJWK:
        """The key for a token whose header names ``kid`` and ``algorithm``.

        Raises:
            IdPError: no key of the set fits (after at most one refetch).
            IdPUnavailable: the set could not be fetched in time.
        """
        state = self._state or self._refresh(deadline, None)
        found = _find(state, kid, algorithm)
        if found is None and self._may_refetch():
            state = self._refresh(deadline, state)
            found = _find(state, kid, algorithm)
        if found is None:
            logger.warning("OIDC ID token names a key the JWKS does not hold")
            raise IdPError("the ID token names a key the provider does not publish")
        return found

    def _may_refetch(self) -> bool:
        last = self._refetched_at
        return last is None or self._monotonic() - last >= self._interval

    def _refresh(self, deadline: float, seen: _State | None) -> _State:
        if not self._fetching.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            raise IdPUnavailable("the provider's keys could not be fetched in time")
        try:
            # Another thread may have fetched while this one waited.
            current = self._state
            if current is not None and current is not seen:
                return current
            if seen is not None:
                if not self._may_refetch():
                    return seen
                self._refetched_at = self._monotonic()
            jwks = _parse_jwks(self._fetch(deadline))
            state: _State = (jwks, {})
            self._state = state
            logger.info("OIDC JWKS fetched: %d keys", len(jwks))
            return state
        finally:
            self._fetching.release()


def _find(state: _State, kid: str | None, algorithm: str) -> jwt.PyJWK | None:
    jwks, loaded = state
    cached = loaded.get((kid, algorithm))
    if cached is not None:
        return cached
    if kid is None:
        # RFC 7517 §4.5: without a kid, only a set with one fitting key.
        candidates = [k for k in jwks if _fits(k, algorithm)]
        if len(candidates) != 1:
            return None
    else:
        candidates = [k for k in jwks if k.get("kid") == kid and _fits(k, algorithm)]
    for jwk in candidates:
        try:
            key = jwt.PyJWK(jwk, algorithm=algorithm)
        except Exception:  # a malformed key is skipped, never a crash
            logger.warning("OIDC JWKS holds a key that cannot be loaded")
            continue
        loaded[(kid, algorithm)] = key
        return key
    return None


def _parse_jwks(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise IdPError("the provider's JWKS is not a key set")
    keys = [k for k in data["keys"] if isinstance(k, dict)]
    return [k for k in keys if k.get("kid") is None or is_text(k.get("kid"), 256)]


def verify_id_token(
    token: object,
    *,
    keys: JWKSCache,
    algorithms: Sequence[str],
    client_id: str,
    issuer_ok: Callable[[dict[str, Any]], bool],
    nonce: str,
    leeway: float,
    deadline: float,
) -> dict[str, Any]:
    """The verified claims of ``token``.

    ``algorithms`` are those both we and the provider's discovery accept;
    ``issuer_ok`` judges the claims' ``iss`` (and, for a multi-tenant
    issuer, ``tid``).

    Raises:
        IdPError: the token is not one this provider issued to this client
            now (algorithm, key, signature, iss, aud, azp, exp, iat, nbf).
        LoginFailed: its ``nonce`` is not this login's: the code was
            issued to another login (injected or replayed).
        IdPUnavailable: its keys could not be fetched in time.
    """
    if not isinstance(token, str) or not 0 < len(token) <= MAX_ID_TOKEN_BYTES:
        raise IdPError("the token answer has no usable ID token")
    header = _header(token)
    algorithm, kid = header.get("alg"), header.get("kid")
    if not isinstance(algorithm, str) or algorithm not in algorithms:
        raise _refused("algorithm")
    key = keys.key(kid if isinstance(kid, str) else None, algorithm, deadline)
    claims, failure = _decode(token, key, algorithm, client_id, leeway)
    if claims is None:
        raise _refused(failure)
    if not issuer_ok(claims):
        raise _refused("issuer")
    azp = claims.get("azp")
    if azp is not None and azp != client_id:
        raise _refused("azp")
    sent = claims.get("nonce")
    if not isinstance(sent, str) or not hmac.compare_digest(
        sent.encode("utf-8", "replace"), nonce.encode("utf-8", "replace")
    ):
        logger.warning("OIDC ID token refused: its nonce is not this login's")
        raise LoginFailed("the ID token was issued to another login (nonce)")
    return claims


# PyJWT's exceptions chain the decoder's, whose ``doc`` is the header or the
# claims (the nonce): they are dropped inside these two, and every raise
# happens outside an ``except`` block, so nothing is chained.
def _header(token: str) -> dict[str, Any]:
    try:
        return _JWT._jws.get_unverified_header(token)
    except Exception:  # any decoding failure is a bad token, never a crash
        return {}


def _decode(
    token: str, key: jwt.PyJWK, algorithm: str, client_id: str, leeway: float
) -> tuple[dict[str, Any] | None, str]:
    try:
        claims = _JWT.decode(
            token,
            key=key,
            algorithms=[algorithm],
            audience=client_id,
            leeway=leeway,
            options={
                "require": ["iss", "sub", "aud", "exp", "iat"],
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.ExpiredSignatureError:
        return None, "expired"
    except jwt.ImmatureSignatureError:
        return None, "issued in the future"
    except jwt.InvalidAudienceError:
        return None, "audience"
    except jwt.MissingRequiredClaimError:
        return None, "a required claim is missing"
    except jwt.InvalidSignatureError:
        return None, "signature"
    except Exception:  # any other decoding failure is a bad token
        return None, "signature or claims"
    return claims, ""


def _refused(reason: str) -> IdPError:
    logger.warning("OIDC ID token refused: %s", reason)
    return IdPError(f"the provider's ID token was refused ({reason})")
