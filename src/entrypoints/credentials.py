"""One rule for reading a request's credentials (DESIGN.md "Cookies").

Shared by the ASGI middleware and the Lambda authorizer:

the ``Authorization`` header (two of them: ``invalid_request``), else, when cookie
auth is on, the token cookie (``__Host-wikibot_auth_token`` on secure origins, the
bare name on plain-http loopback; sent twice, it counts as absent); a
cookie-authenticated request whose
method is not GET/HEAD/OPTIONS (and every websocket) needs exactly one ``Origin``
equal to an allowed origin, else ``csrf_rejected``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import attrs

from ..domain.errors import CsrfRejected, InvalidRequest
from .cookies import SAFE_METHODS, single_cookie

Headers = Mapping[str, list[str]]


def collect_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Lower-cased header name -> every value, in order."""
    found: dict[str, list[str]] = {}
    for name, value in pairs:
        found.setdefault(name.lower(), []).append(value)
    return found


def one_header(headers: Headers, name: str) -> str | None:
    """The only value of ``name``; several values are ``invalid_request``."""
    values = headers.get(name, [])
    if len(values) > 1:
        raise InvalidRequest(f"several {name} headers")
    return values[0] if values else None


@attrs.frozen
class Credentials:
    """Either an ``Authorization`` header value or a token from the cookie."""

    header: str | None = attrs.field(repr=False, default=None)
    cookie_token: str | None = attrs.field(repr=False, default=None)


def read_credentials(
    headers: Headers,
    *,
    method: str | None,
    cookie_auth: bool,
    allowed_origins: Collection[str],
    token_cookie: str,
    cookie_header: str | None = None,
) -> Credentials | None:
    """The request's credentials, or None when it carries none.

    ``method`` None means a websocket (always origin-checked). ``cookie_header``
    replaces the ``Cookie`` headers (HTTP API events carry ``cookies`` apart).
    ``token_cookie`` is the token cookie's name (``CookiePolicy.token_cookie``).

    Raises:
        InvalidRequest: several ``Authorization`` headers.
        CsrfRejected: a cookie-authenticated unsafe request from another origin.
    """
    header = one_header(headers, "authorization")
    if header is not None:
        return Credentials(header=header)
    if not cookie_auth:
        return None
    if cookie_header is None:
        cookie_header = "; ".join(headers.get("cookie", []))
    token = single_cookie(cookie_header, token_cookie)
    if not token:
        return None
    if method is None or method.upper() not in SAFE_METHODS:
        origins = headers.get("origin", [])
        if len(origins) != 1 or origins[0] not in allowed_origins:
            raise CsrfRejected()
    return Credentials(cookie_token=token)
