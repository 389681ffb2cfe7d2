"""The two cookies (DESIGN.md "Cookies"): names, attributes and parsing.

No framework here: the ASGI middleware, the routes and the Lambda handler share it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs

from .settings import is_loopback_host

LOGIN_COOKIE = "wikibot_auth_login"
TOKEN_COOKIE = "wikibot_auth_token"  # noqa: S105 - a cookie name, not a secret
LOGIN_MAX_AGE = 600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def parse_cookies(header: str | None) -> dict[str, str]:
    """``name=value; name2=value2`` -> dict; the first occurrence of a name wins."""
    cookies: dict[str, str] = {}
    if not header:
        return cookies
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in cookies:
            cookies[name] = value.strip().strip('"')
    return cookies


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
    """Cookie attributes that follow from the redirect URI."""

    secure: bool
    login_path: str
    origin: str

    @classmethod
    def for_redirect_uri(cls, redirect_uri: str) -> CookiePolicy:
        parts = urlsplit(redirect_uri)
        insecure = parts.scheme == "http" and is_loopback_host(parts.hostname)
        return cls(
            secure=not insecure,
            login_path=parts.path or "/",
            origin=origin_of(redirect_uri),
        )

    def _attrs(self, path: str, max_age: int) -> str:
        secure = "; Secure" if self.secure else ""
        return f"Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"

    def set_login(self, value: str) -> str:
        return f"{LOGIN_COOKIE}={value}; " + self._attrs(self.login_path, LOGIN_MAX_AGE)

    def expire_login(self) -> str:
        return f"{LOGIN_COOKIE}=; " + self._attrs(self.login_path, 0)

    def set_token(self, token: str, max_age: int) -> str:
        return f"{TOKEN_COOKIE}={token}; " + self._attrs("/", max_age)

    def expire_token(self) -> str:
        return f"{TOKEN_COOKIE}=; " + self._attrs("/", 0)
