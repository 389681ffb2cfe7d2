"""Parsing ``Authorization: Bearer <token>`` per RFC 6750 section 2.1."""

from __future__ import annotations

import string

from .errors import InvalidRequest, MissingToken

MAX_HEADER_BYTES = 8192

# b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_TOKEN_CHARACTERS = (string.ascii_letters + string.digits + "-._~+/").encode("ascii")
_SCHEME_ENDS = ("", " ", "\t")


def parse_authorization_header(value: str | None) -> str:
    """Return the bearer token of an Authorization header value.

    Raises:
        MissingToken: no header, an empty one, or another scheme.
        InvalidRequest: an over-long or malformed Bearer header, or several
            credentials in one value.
    """
    if value is None:
        raise MissingToken()
    if len(value) > MAX_HEADER_BYTES:
        raise InvalidRequest("the Authorization header is too long")
    if not value.isascii():  # a b64token is ASCII; so its length in bytes is len()
        raise InvalidRequest("the Authorization header is not ASCII")
    if "," in value:
        raise InvalidRequest("several credentials in one Authorization header")
    stripped = value.strip(" ")
    if not stripped:
        raise MissingToken()
    # The scheme runs to the first space or tab; one or more spaces follow it.
    if stripped.startswith("Bearer "):  # as nearly every client writes it
        token = stripped[7:].lstrip(" ")
    elif stripped[:6].lower() != "bearer" or stripped[6:7] not in _SCHEME_ENDS:
        raise MissingToken("the Authorization header uses another scheme")
    else:
        after = stripped[6:]
        token = after.lstrip(" ")
        if len(token) == len(after):  # a tab, or nothing, after the scheme
            raise InvalidRequest("malformed Bearer credentials")
    # The b64token: every character up to its trailing "=" in the alphabet
    # (translate deletes those; nothing may remain).
    body = token.rstrip("=")
    if not body or body.encode("ascii").translate(None, _TOKEN_CHARACTERS):
        raise InvalidRequest("malformed Bearer credentials")
    return token


def is_b64token(token: str) -> bool:
    """Whether ``token`` is a b64token without padding: then
    ``parse_authorization_header("Bearer " + token)`` is ``token`` whenever
    that header is at most ``MAX_HEADER_BYTES`` long."""
    return (
        token.isascii()
        and bool(token)
        and not token.encode("ascii").translate(None, _TOKEN_CHARACTERS)
        and not token.endswith("=")
    )
