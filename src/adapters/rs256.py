"""The ``TokenSigner`` port: RS256 platform tokens with PyJWT, over a key ring.

Keys are loaded once per process. The key that verifies a token is chosen by
its ``kid`` (the RFC 7638 thumbprint) inside PyJWT's own single parse of the
token, so a token is decoded once. Time claims are checked against the
``Clock`` port, not PyJWT's wall clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import math
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import attrs
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.api_jws import PyJWS
from jwt.exceptions import DecodeError, InvalidTokenError

from ..domain.errors import AuthError, InvalidToken, NotConfigured, TokenExpired
from ..domain.model import TokenClaims
from ..domain.ports import Clock

logger = logging.getLogger("wikibot_auth")

ALGORITHM = "RS256"
MIN_KEY_BITS = 2048
MAX_TOKEN_BYTES = 8192
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "jti"]
FORBIDDEN_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c", "crit"})

_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")

# (exp, iat, nbf) as the token states them.
TimeClaims = tuple[float, float, float | None]


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_jwk(public_key: rsa.RSAPublicKey) -> dict[str, str]:
    numbers = public_key.public_numbers()
    return {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}


def thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): the key's ``kid``."""
    canonical = json.dumps(
        public_jwk(public_key), separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _pem_bytes(pem: str | bytes) -> bytes:
    text = pem.decode("utf-8", "replace") if isinstance(pem, bytes) else pem
    # A PEM passed through an environment variable often carries literal "\n".
    return text.replace("\\n", "\n").strip().encode("utf-8") + b"\n"


def _check_size(key: rsa.RSAPrivateKey | rsa.RSAPublicKey, origin: str) -> None:
    if key.key_size < MIN_KEY_BITS:
        raise NotConfigured(
            f"{origin}: RSA key of {key.key_size} bits; at least {MIN_KEY_BITS} needed"
        )


def load_private_key(
    pem: str | bytes, *, origin: str = "private key"
) -> rsa.RSAPrivateKey:
    """Load an RSA private key from PEM (never logged; errors name ``origin`` only)."""
    try:
        key = serialization.load_pem_private_key(_pem_bytes(pem), password=None)
    except (ValueError, TypeError) as exc:
        raise NotConfigured(f"{origin}: not an unencrypted PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise NotConfigured(f"{origin}: not an RSA key")
    _check_size(key, origin)
    return key


def load_public_keys(
    text: str | bytes, *, origin: str = "public keys"
) -> list[rsa.RSAPublicKey]:
    """Public keys from a PEM bundle (public keys, certificates, private keys)
    or a JWK Set."""
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    if raw.lstrip().startswith("{"):
        return _keys_from_jwks(raw, origin)
    keys: list[rsa.RSAPublicKey] = []
    blocks = _pem_bytes(raw).split(b"-----END ")
    for block in blocks[:-1]:
        begin = block.find(b"-----BEGIN ")
        if begin < 0:
            continue
        label, _, _ = block[begin + 11 :].partition(b"-----")
        pem = block[begin:] + b"-----END " + label + b"-----\n"
        keys.append(_public_from_pem(pem, label.decode("ascii", "replace"), origin))
    if not keys:
        raise NotConfigured(f"{origin}: no PEM key or JWKS found")
    return keys


def _public_from_pem(pem: bytes, label: str, origin: str) -> rsa.RSAPublicKey:
    try:
        if "PRIVATE" in label:
            return load_private_key(pem, origin=origin).public_key()
        if "CERTIFICATE" in label:
            from cryptography import x509

            key: object = x509.load_pem_x509_certificate(pem).public_key()
        else:
            key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise NotConfigured(f"{origin}: unreadable PEM block {label!r}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise NotConfigured(f"{origin}: not an RSA key")
    _check_size(key, origin)
    return key


def _keys_from_jwks(raw: str, origin: str) -> list[rsa.RSAPublicKey]:
    try:
        document = json.loads(raw)
        keys = [
            cast(rsa.RSAPublicKey, jwt.algorithms.RSAAlgorithm.from_jwk(entry))
            for entry in document["keys"]
            if entry.get("kty") == "RSA"
        ]
    except (ValueError, KeyError, TypeError, AttributeError, jwt.PyJWTError) as exc:
        raise NotConfigured(f"{origin}: not a JWK Set of RSA keys") from exc
    for key in keys:
        _check_size(key, origin)
    return keys


def generate_private_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    if bits not in (2048, 3072, 4096):
        raise ValueError("key size must be 2048, 3072 or 4096 bits")
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private_key(
    path: Path, key: rsa.RSAPrivateKey, *, force: bool = False
) -> None:
    """Write PEM with mode 0600 from the start; refuse to overwrite unless ``force``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW
    flags |= os.O_TRUNC if force else os.O_EXCL
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, private_key_pem(key))
    finally:
        os.close(fd)


@attrs.frozen
class KeyRing:
    """The signing key (if any) and every key that may verify a token, by ``kid``."""

    signing_key: rsa.RSAPrivateKey | None
    signing_kid: str | None
    verification_keys: Mapping[str, rsa.RSAPublicKey]

    @classmethod
    def build(
        cls,
        signing_key: rsa.RSAPrivateKey | None = None,
        public_keys: Iterable[rsa.RSAPublicKey] = (),
    ) -> KeyRing:
        keys: dict[str, rsa.RSAPublicKey] = {}
        signing_kid = None
        if signing_key is not None:
            signing_kid = thumbprint(signing_key.public_key())
            keys[signing_kid] = signing_key.public_key()
        for public in public_keys:
            keys.setdefault(thumbprint(public), public)
        if not keys:
            raise NotConfigured("the key ring has no key")
        return cls(signing_key, signing_kid, keys)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {
            "keys": [
                {**public_jwk(key), "kid": kid, "use": "sig", "alg": ALGORITHM}
                for kid, key in self.verification_keys.items()
            ]
        }


class _KeyRingJWS(PyJWS):
    """PyJWS that picks the verification key by ``kid`` during its one parse."""

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        # PyJWT's own check, at C speed: it walks every byte in Python to
        # refuse non-alphabet junk (GHSA-hxm8-2xgr-2p9m), half the cost of a
        # decode. Here binascii refuses it (strict mode; "+" and "/" pass
        # that step but not the round trip below), and the canonical round
        # trip is kept as is. Padding rules are PyJWT's.
        stripped = segment.rstrip(b"=")
        padding = len(segment) - len(stripped)
        if padding > 2 or (padding and len(segment) % 4 != 0):
            raise DecodeError(f"Invalid {name} padding")
        if len(stripped) % 4 == 1:
            raise DecodeError(f"Invalid {name} padding")
        try:
            decoded = binascii.a2b_base64(
                stripped.translate(_FROM_URLSAFE) + b"=" * (-len(stripped) % 4),
                strict_mode=True,
            )
        except (TypeError, binascii.Error) as err:
            raise DecodeError(f"Invalid {name} padding") from err
        if base64.urlsafe_b64encode(decoded).rstrip(b"=") != stripped:
            raise DecodeError(f"Invalid {name} padding")
        return decoded

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


class RS256TokenSigner:
    """``TokenSigner`` for RS256 JWTs (PyJWT), issuer and audience pinned."""

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
    ) -> None:
        if token_ttl <= 0 or token_ttl > max_token_ttl:
            raise NotConfigured(
                "the token lifetime must be between 1 s and the maximum"
            )
        self._key_ring = key_ring
        self._clock = clock
        self._issuer = issuer
        self._audience = audience
        self._token_ttl = token_ttl
        self._max_token_ttl = max_token_ttl
        self._leeway = leeway
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

    @property
    def token_ttl(self) -> int:
        return self._token_ttl

    @property
    def key_ring(self) -> KeyRing:
        return self._key_ring

    def replace_keys(self, key_ring: KeyRing) -> None:
        """Swap the whole key ring at once (one reference assignment)."""
        self._key_ring = key_ring

    def create_token(self, subject: str, *, min_issued_at: int = 0) -> str:
        ring = self._key_ring
        if ring.signing_key is None or ring.signing_kid is None:
            raise NotConfigured("no signing key is configured")
        if not isinstance(subject, str) or not subject:
            raise ValueError("the subject must be a non-empty string")
        issued_at = max(math.floor(self._clock.now()), min_issued_at)
        payload = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "iat": issued_at,
            "exp": issued_at + self._token_ttl,
            "jti": secrets.token_urlsafe(16),
        }
        return self._jwt.encode(
            payload,
            ring.signing_key,
            algorithm=ALGORITHM,
            headers={"kid": ring.signing_kid},
        )

    def validate_token(self, token: str) -> TokenClaims:
        return self.verify(token)[0]

    def verify(self, token: str) -> tuple[TokenClaims, TimeClaims]:
        """``validate_token``, plus the time claims as the token states them
        (before flooring), so that a cache can re-apply ``check_time_rules``."""
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
            return self._check_times(decoded["header"], decoded["payload"])
        except AuthError:
            raise
        except Exception as exc:  # any decoding failure is a bad token, never a crash
            raise InvalidToken(type(exc).__name__) from exc

    def _check_times(
        self, header: Mapping[str, Any], payload: Mapping[str, Any]
    ) -> tuple[TokenClaims, TimeClaims]:
        sub = payload["sub"]
        if not isinstance(sub, str) or not sub:
            raise InvalidToken("claim sub is empty")
        exp = _required_time_claim(payload, "exp")
        iat = _required_time_claim(payload, "iat")
        nbf = _time_claim(payload, "nbf")
        self.check_time_rules(exp, iat, nbf)
        claims = TokenClaims(
            sub=sub,
            iss=payload["iss"],
            aud=payload["aud"],
            iat=math.floor(iat),
            exp=math.floor(exp),
            jti=payload["jti"],
            kid=header["kid"],
            nbf=None if nbf is None else math.floor(nbf),
        )
        return claims, (exp, iat, nbf)

    def check_time_rules(self, exp: float, iat: float, nbf: float | None) -> None:
        """Apply the time rules (``exp``, ``nbf``, ``iat``, maximum lifetime,
        with the leeway) against the ``Clock``; shared with the token cache.

        Raises:
            TokenExpired: ``exp`` has passed (beyond the leeway).
            InvalidToken: not yet valid, issued in the future, or lived too long.
        """
        now = self._clock.now()
        if exp <= now - self._leeway:
            raise TokenExpired()
        if nbf is not None and nbf > now + self._leeway:
            raise InvalidToken("token not yet valid (nbf)")
        if iat > now + self._leeway:
            raise InvalidToken("token issued in the future (iat)")
        if exp - iat > self._max_token_ttl + self._leeway:
            raise InvalidToken("token lifetime above the maximum")

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return self._key_ring.jwks()
