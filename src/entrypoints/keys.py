"""Loading the key ring from the settings, once per process."""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from ..adapters.rs256 import (
    KeyRing,
    generate_private_key,
    load_private_key,
    load_public_keys,
    write_private_key,
)
from ..domain.errors import NotConfigured

logger = logging.getLogger("wikibot_auth")

DEV_KEY_NAME = "signing-key.pem"


def _read(path: str, variable: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise NotConfigured(f"{variable}: cannot read {path} ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise NotConfigured(
            f"{variable}: {path} is not a PEM or JWKS text file"
        ) from exc


def load_key_ring(
    private_key: str | None,
    private_key_file: str | None,
    public_keys_file: str | None,
    data_dir: str,
    may_generate_key: bool,
) -> KeyRing:
    """The signing key from the environment or its file, else (development only)
    one generated in the data directory; plus older public keys for rotation."""
    if private_key:
        signing = load_private_key(private_key, origin="WIKIBOT_AUTH_PRIVATE_KEY")
    elif private_key_file:
        signing = load_private_key(
            _read(private_key_file, "WIKIBOT_AUTH_PRIVATE_KEY_FILE"),
            origin="WIKIBOT_AUTH_PRIVATE_KEY_FILE",
        )
    elif may_generate_key:
        signing = development_key(Path(data_dir) / DEV_KEY_NAME)
    else:
        raise NotConfigured(
            "no signing key: set WIKIBOT_AUTH_PRIVATE_KEY or "
            "WIKIBOT_AUTH_PRIVATE_KEY_FILE"
        )
    public = (
        load_public_keys(
            _read(public_keys_file, "WIKIBOT_AUTH_PUBLIC_KEYS_FILE"),
            origin="WIKIBOT_AUTH_PUBLIC_KEYS_FILE",
        )
        if public_keys_file
        else []
    )
    return KeyRing.build(signing, public)


def development_key(path: Path) -> rsa.RSAPrivateKey:
    """The development signing key: read it, or generate it once (mode 0600)."""
    if not path.exists():
        try:
            write_private_key(path, generate_private_key())
            logger.info("generated a development signing key at %s", path)
        except FileExistsError:
            pass  # another process generated it first
    return load_private_key(_read(str(path), "WIKIBOT_AUTH_DATA_DIR"), origin=str(path))


def key_ring_from_file(path: str) -> KeyRing:
    """A key ring from one PEM file: a private key signs and verifies; public
    keys (or a JWKS) only verify."""
    text = _read(path, "--key")
    if "PRIVATE KEY-----" in text:
        return KeyRing.build(load_private_key(text, origin=path))
    return KeyRing.build(None, load_public_keys(text, origin=path))
