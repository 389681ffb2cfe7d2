"""The platform's keys by ``kid``: the one that signs, and every one that verifies.

A shared helper of the token signers (file keys today, AWS KMS next), not an
adapter. Signing is a backend, ``sign(signing_input) -> bytes`` beneath one
verifier and one JWKS, so a key held by a key service differs only there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

import attrs
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..domain.errors import NotConfigured
from .key_files import jwk_set, thumbprint

# RS256's padding and hash, made once (immutable; PyJWT makes them per call).
_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


class SigningBackend(Protocol):
    """Makes RSASSA-PKCS1-v1_5 SHA-256 signatures with a key it may never
    hand out."""

    @property
    def public_key(self) -> rsa.RSAPublicKey: ...

    def sign(self, signing_input: bytes) -> bytes:
        """The RS256 signature of ``signing_input``.

        Raises:
            NotConfigured, DependencyError: the key cannot sign now.
        """
        ...

    def secret_material(self) -> bytes:
        """Secret bytes bound to this key, the same in every process holding
        it (the HKDF input of the login-cookie key); never logged."""
        ...


class FileSigningKey:
    """A ``SigningBackend`` over a private key loaded into this process."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self._private_key = private_key
        # Derived once: PyJWT checks its size on every signature.
        self._public_key = private_key.public_key()

    def __repr__(self) -> str:
        return f"FileSigningKey(kid={thumbprint(self.public_key)!r})"

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self._public_key

    def sign(self, signing_input: bytes) -> bytes:
        return self._private_key.sign(signing_input, _PKCS1V15, _SHA256)

    def secret_material(self) -> bytes:
        return self._private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@attrs.frozen
class KeyRing:
    """The signing backend (if any) and every key that may verify a token, by
    ``kid`` (the RFC 7638 thumbprint)."""

    signer: SigningBackend | None
    signing_kid: str | None
    verification_keys: Mapping[str, rsa.RSAPublicKey]

    @classmethod
    def build(
        cls,
        signer: SigningBackend | None = None,
        public_keys: Iterable[rsa.RSAPublicKey] = (),
    ) -> KeyRing:
        """Raises NotConfigured when there is no key at all."""
        keys: dict[str, rsa.RSAPublicKey] = {}
        signing_kid = None
        if signer is not None:
            signing_kid = thumbprint(signer.public_key)
            keys[signing_kid] = signer.public_key
        for public in public_keys:
            keys.setdefault(thumbprint(public), public)
        if not keys:
            raise NotConfigured("the key ring has no key")
        return cls(signer, signing_kid, keys)

    @classmethod
    def of_private_key(
        cls,
        private_key: rsa.RSAPrivateKey,
        public_keys: Iterable[rsa.RSAPublicKey] = (),
    ) -> KeyRing:
        return cls.build(FileSigningKey(private_key), public_keys)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return jwk_set(dict(self.verification_keys))
