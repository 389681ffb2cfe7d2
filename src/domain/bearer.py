"""Parsing ``Authorization: Bearer <token>`` per RFC 6750 section 2.1."""

from __future__ import annotations

import re

from .errors import InvalidRequest, MissingToken

MAX_HEADER_BYTES = 8192

_SPACE = re.compile(r"[ \t]")
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")


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
    scheme = _SPACE.split(stripped, maxsplit=1)[0]
    if scheme.lower() != "bearer":
        raise MissingToken("the Authorization header uses another scheme")
    match = _BEARER.fullmatch(stripped)
    if match is None:
        raise InvalidRequest("malformed Bearer credentials")
    return match.group(1)
