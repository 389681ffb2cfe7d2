"""Reading and writing RSA keys: PEM private keys, PEM bundles and JWK Sets.

A shared helper of the token signers and the CLI, not an adapter. Key material
is never logged; errors name where a key came from (``origin``), never the key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import cast

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..domain.errors import NotConfigured

logger = logging.getLogger("wikibot_auth")

ALGORITHM = "RS256"
MIN_KEY_BITS = 2048
KEY_SIZES = (2048, 3072, 4096)


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_jwk(public_key: rsa.RSAPublicKey) -> dict[str, str]:
    """The RFC 7517 members of an RSA public key (``e``, ``kty``, ``n``)."""
    numbers = public_key.public_numbers()
    return {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}


def thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): the key's ``kid``."""
    canonical = json.dumps(
        public_jwk(public_key), separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def jwk_set(keys: dict[str, rsa.RSAPublicKey]) -> dict[str, list[dict[str, str]]]:
    """A JWK Set of ``kid -> public key``, for RS256 signatures."""
    return {
        "keys": [
            {**public_jwk(key), "kid": kid, "use": "sig", "alg": ALGORITHM}
            for kid, key in keys.items()
        ]
    }


def _pem_bytes(pem: str | bytes) -> bytes:
    text = pem.decode("utf-8", "replace") if isinstance(pem, bytes) else pem
    # A PEM passed through an environment variable often carries literal "\n".
    return text.replace("\\n", "\n").strip().encode("utf-8") + b"\n"


def check_key_size(key: rsa.RSAPrivateKey | rsa.RSAPublicKey, origin: str) -> None:
    """Raises NotConfigured for an RSA key under ``MIN_KEY_BITS``."""
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
    check_key_size(key, origin)
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
            key: object = x509.load_pem_x509_certificate(pem).public_key()
        else:
            key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise NotConfigured(f"{origin}: unreadable PEM block {label!r}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise NotConfigured(f"{origin}: not an RSA key")
    check_key_size(key, origin)
    return key


def _keys_from_jwks(raw: str, origin: str) -> list[rsa.RSAPublicKey]:
    try:
        document = json.loads(raw)
        keys = [
            _public(jwt.algorithms.RSAAlgorithm.from_jwk(entry))
            for entry in document["keys"]
            if entry.get("kty") == "RSA"
        ]
    except (ValueError, KeyError, TypeError, AttributeError, jwt.PyJWTError) as exc:
        raise NotConfigured(f"{origin}: not a JWK Set of RSA keys") from exc
    for key in keys:
        check_key_size(key, origin)
    return keys


def _public(key: object) -> rsa.RSAPublicKey:
    # A JWK with "d" is a private key: only its public half verifies.
    if isinstance(key, rsa.RSAPrivateKey):
        return key.public_key()
    return cast(rsa.RSAPublicKey, key)


def holds_private_key(text: str) -> bool:
    """A PEM private key, or a JWK Set with a private member (``d``)."""
    if "PRIVATE KEY-----" in text:
        return True
    try:
        document = json.loads(text)
        return any("d" in entry for entry in document["keys"])
    except (ValueError, KeyError, TypeError):
        return False


def read_key_text(path: str | Path, origin: str) -> str:
    """A key file's text; a private key readable by group or others is used
    but logged as a WARNING naming the file and its mode.

    Raises:
        NotConfigured: the file cannot be read or is not text.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError as exc:
        raise NotConfigured(f"{origin}: cannot read {path} ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise NotConfigured(f"{origin}: {path} is not a PEM or JWKS text file") from exc
    if mode & 0o077 and holds_private_key(text):
        logger.warning(
            "the private key file %s is readable by others (mode %04o); chmod 600 it",
            path,
            mode,
        )
    return text


def generate_private_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    if bits not in KEY_SIZES:
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
    """Write PEM with mode 0600, whole or not at all: the key goes to a
    temporary file beside ``path`` that is then linked into place, so a racing
    reader sees the whole key or no file. Refuses to overwrite unless ``force``.

    Raises:
        FileExistsError: ``path`` exists and ``force`` is false.
        OSError: the directory is missing or not writable.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, private_key_pem(key))
            os.fsync(fd)
        finally:
            os.close(fd)
        if force:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # FileExistsError when another won
    finally:
        temporary.unlink(missing_ok=True)
