"""PKCE (RFC 7636) and login-state values."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def new_code_verifier() -> str:
    """43 characters of the RFC 7636 alphabet (32 random bytes)."""
    return secrets.token_urlsafe(32)


def new_state() -> str:
    return secrets.token_urlsafe(32)


def code_challenge_s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verifier_matches(verifier: str, challenge: str) -> bool:
    try:
        expected = code_challenge_s256(verifier)
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected, challenge)
