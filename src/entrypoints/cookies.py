"""The two cookies (DESIGN.md "Cookies"): names, attributes and parsing.

No framework here: the ASGI middleware, the routes and the Lambda handler share it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs

from .settings import is_loopback_host

LOGIN_COOKIE = "wikibot_auth_login"
TOKEN_COOKIE = "wikibot_auth_token"  # noqa: S105 - a cookie name, not a secret
# Secure cookies carry it: a browser keeps such a cookie only from a secure
# origin, with Path=/ and no Domain, so a sibling subdomain cannot plant one.
HOST_PREFIX = "__Host-"
LOGIN_MAX_AGE = 600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cookie_name(name: str, *, secure: bool) -> str:
    """``__Host-<name>`` for Secure cookies, the bare name on plain-http loopback."""
    return HOST_PREFIX + name if secure else name


def is_secure_origin(origin: str) -> bool:
    """Cookies are Secure unless the origin is plain http on a loopback host."""
    parts = urlsplit(origin)
    return not (parts.scheme == "http" and is_loopback_host(parts.hostname))


def cookie_values(header: str | None, name: str) -> list[str]:
    """Every value sent under ``name`` in a ``Cookie`` header, in order."""
    values: list[str] = []
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            values.append(value.strip().strip('"'))
    return values


def single_cookie(header: str | None, name: str) -> str | None:
    """The value of ``name`` when it was sent exactly once. Two cookies of one
    of our names mean someone planted one: the caller decides (the token
    cookie counts as absent; the login cookie is ``invalid_callback``)."""
    values = cookie_values(header, name)
    return values[0] if len(values) == 1 else None


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL (default ports left out)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


@attrs.frozen
class CookiePolicy:
    """Cookie names and attributes that follow from the redirect URI."""

    secure: bool
    origin: str

    @classmethod
    def for_redirect_uri(cls, redirect_uri: str) -> CookiePolicy:
        origin = origin_of(redirect_uri)
        return cls(secure=is_secure_origin(origin), origin=origin)

    @property
    def login_cookie(self) -> str:
        return cookie_name(LOGIN_COOKIE, secure=self.secure)

    @property
    def token_cookie(self) -> str:
        return cookie_name(TOKEN_COOKIE, secure=self.secure)

    def _attrs(self, max_age: int) -> str:
        secure = "; Secure" if self.secure else ""
        return f"Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"

    def set_login(self, value: str) -> str:
        return f"{self.login_cookie}={value}; " + self._attrs(LOGIN_MAX_AGE)

    def expire_login(self) -> str:
        return f"{self.login_cookie}=; " + self._attrs(0)

    def set_token(self, token: str, max_age: int) -> str:
        return f"{self.token_cookie}={token}; " + self._attrs(max_age)

    def expire_token(self) -> str:
        return f"{self.token_cookie}=; " + self._attrs(0)
