"""Loading the key ring the settings name, once per process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from ..adapters.key_files import (
    generate_private_key,
    load_private_key,
    load_public_keys,
    read_key_text,
    write_private_key,
)
from ..adapters.key_ring import KeyRing, SigningBackend
from ..domain.errors import NotConfigured

logger = logging.getLogger("wikibot_auth")

DEV_KEY_NAME = "signing-key.pem"
PRIVATE_KEY = "WIKIBOT_AUTH_PRIVATE_KEY"
PRIVATE_KEY_FILE = "WIKIBOT_AUTH_PRIVATE_KEY_FILE"
PUBLIC_KEYS_FILE = "WIKIBOT_AUTH_PUBLIC_KEYS_FILE"
KMS_KEY_ID = "WIKIBOT_AUTH_KMS_KEY_ID"


def load_key_ring(
    private_key: str | None,
    private_key_file: str | None,
    public_keys_file: str | None,
    data_dir: str,
    may_generate_key: bool,
    key_file: str | None = None,
    kms_key_id: str | None = None,
    kms_signing_key: Callable[[], SigningBackend] | None = None,
    verify_only: bool = False,
) -> KeyRing:
    """The key ring of the settings:

    - ``key_file`` (the CLI's ``--key``): that file alone; a private key signs
      and verifies, public keys (PEM or JWKS) only verify;
    - ``verify_only`` (the Lambda authorizer): public keys only, never a
      signing key: the public keys file when given (no KMS call at all), else
      the configured key's public half (for KMS one ``GetPublicKey``); a PEM's
      public half is added to the file's keys, since it costs nothing;
    - else the signing key: the KMS key (``kms_signing_key()``, resolved once),
      or ``WIKIBOT_AUTH_PRIVATE_KEY`` or its file, else (development only) one
      generated in the data directory, plus the older public keys of
      ``WIKIBOT_AUTH_PUBLIC_KEYS_FILE``;
    - else (a Lambda authorizer) the public keys file alone: verify only.

    Raises:
        NotConfigured: no usable key.
        SignerUnavailable: KMS could not be asked for the key now.
    """
    if key_file:
        return key_ring_from_file(key_file)
    public = (
        load_public_keys(
            read_key_text(public_keys_file, PUBLIC_KEYS_FILE), origin=PUBLIC_KEYS_FILE
        )
        if public_keys_file
        else []
    )
    if kms_key_id:
        if kms_signing_key is None:
            raise NotConfigured(f"{KMS_KEY_ID} is set but no KMS client is wired")
        if verify_only:
            keys = public or [kms_signing_key().public_key]
            return KeyRing.build(None, keys)
        return KeyRing.build(kms_signing_key(), public)
    if private_key:
        signing = load_private_key(private_key, origin=PRIVATE_KEY)
    elif private_key_file:
        signing = load_private_key(
            read_key_text(private_key_file, PRIVATE_KEY_FILE), origin=PRIVATE_KEY_FILE
        )
    elif may_generate_key:
        signing = development_key(Path(data_dir) / DEV_KEY_NAME)
    elif public:
        return KeyRing.build(None, public)
    else:
        raise NotConfigured(
            f"no signing key: set {KMS_KEY_ID}, {PRIVATE_KEY} or {PRIVATE_KEY_FILE}"
        )
    if verify_only:
        return KeyRing.build(None, [signing.public_key(), *public])
    return KeyRing.of_private_key(signing, public)


def development_key(path: Path) -> rsa.RSAPrivateKey:
    """The development signing key: read it, or generate it once (mode 0600,
    in a data directory created 0700). Racing processes read one whole key."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            write_private_key(path, generate_private_key())
            logger.info("generated a development signing key at %s", path)
        except FileExistsError:
            pass  # another process generated it first
    text = read_key_text(path, "WIKIBOT_AUTH_DATA_DIR")
    return load_private_key(text, origin=str(path))


def key_ring_from_file(path: str) -> KeyRing:
    """A key ring from one file: a private key signs and verifies; public keys
    (a PEM bundle or a JWKS) only verify."""
    text = read_key_text(path, "--key")
    if "PRIVATE KEY-----" in text:
        return KeyRing.of_private_key(load_private_key(text, origin=path))
    return KeyRing.build(None, load_public_keys(text, origin=path))
