"""ASGI: ``AuthMiddleware`` (pure ASGI, no framework) and ``create_app()``.

    app = AuthMiddleware(app, authenticate=container.authenticate())

sets ``scope["user"]`` and ``scope["auth"]`` the way Starlette's
``request.user`` and ``@requires("authenticated")`` expect. ``create_app()``
(``uvicorn --factory wikibot_auth.entrypoints.asgi:create_app``) serves the
login routes, ``/me`` and the JWKS; Starlette is imported only there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import attrs

from ..domain.errors import (
    AuthError,
    CsrfRejected,
    InternalError,
    InvalidRequest,
    MissingToken,
)
from ..domain.model import AuthenticatedUser, TokenClaims
from ..domain.use_cases import Authenticate
from .cookies import SAFE_METHODS, TOKEN_COOKIE, origin_of, parse_cookies
from .wire import error_answer

if TYPE_CHECKING:
    from .containers import Container

logger = logging.getLogger("wikibot_auth")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

AUTHENTICATED_SCOPE = "authenticated"


class AuthCredentials:
    """``scope["auth"]``: what Starlette's ``@requires`` reads (``.scopes``)."""

    def __init__(self, scopes: list[str] | None = None) -> None:
        self.scopes: list[str] = [] if scopes is None else list(scopes)


class AnonymousUser:
    """``scope["user"]`` of a request without credentials."""

    is_authenticated = False
    display_name = ""
    identity = ""
    user: AuthenticatedUser | None = None


class PlatformUser:
    """``scope["user"]`` of an authenticated request; ``.user`` is the
    ``AuthenticatedUser`` (``identity`` is its ``user_id``)."""

    is_authenticated = True

    def __init__(self, user: AuthenticatedUser) -> None:
        self.user = user

    @property
    def display_name(self) -> str:
        return self.user.display_name

    @property
    def identity(self) -> str:
        return self.user.user_id

    def __repr__(self) -> str:
        return f"PlatformUser(user_id={self.user.user_id!r})"


def header_values(scope: Scope, name: bytes) -> list[str]:
    return [
        value.decode("latin-1")
        for key, value in scope.get("headers", ())
        if key.lower() == name
    ]


def request_origin(scope: Scope) -> str | None:
    """The origin this request was addressed to (scheme + Host header)."""
    hosts = header_values(scope, b"host")
    if len(hosts) != 1:
        return None
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"))
    return origin_of(f"{scheme or scope.get('scheme', 'http')}://{hosts[0]}")


@attrs.frozen
class _Credentials:
    token: str | None = attrs.field(repr=False)
    header: str | None = attrs.field(repr=False)
    from_cookie: bool


async def send_error(scope: Scope, send: Send, error: AuthError) -> None:
    """Answer ``error`` from the error table (JSON; close a websocket)."""
    answer = error_answer(error)
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    await send(
        {
            "type": "http.response.start",
            "status": answer.status,
            "headers": [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in answer.headers.items()
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer.body})


class AuthMiddleware:
    """Authenticate every http/websocket request; other scopes pass through.

    Credentials: the ``Authorization`` header, else (``cookie_auth``) the
    ``wikibot_auth_token`` cookie. A cookie-authenticated request whose method is
    not GET/HEAD/OPTIONS needs an ``Origin`` equal to ``allowed_origin`` (by
    default the origin the request was sent to), else ``csrf_rejected``.
    Requests without credentials pass as anonymous unless ``required`` (a bool,
    or a predicate on the scope) says otherwise; bad credentials are answered
    from the error table. The token check runs inline (CPU only); a user-store
    read that cannot be answered from memory runs in a worker thread.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticate: Authenticate,
        required: bool | Callable[[Scope], bool] = False,
        cookie_auth: bool = True,
        allowed_origin: str | None = None,
    ) -> None:
        self.app = app
        self.authenticate = authenticate
        self.required = required
        self.cookie_auth = cookie_auth
        self.allowed_origin = allowed_origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            user = await self._user(scope)
        except AuthError as exc:
            await send_error(scope, send, exc)
            return
        except Exception:
            logger.exception("unexpected error while authenticating")
            await send_error(scope, send, InternalError())
            return
        if user is None:
            scope["user"], scope["auth"] = AnonymousUser(), AuthCredentials()
        else:
            scope["user"] = PlatformUser(user)
            scope["auth"] = AuthCredentials([AUTHENTICATED_SCOPE])
        await self.app(scope, receive, send)

    def _is_required(self, scope: Scope) -> bool:
        required = self.required
        return required(scope) if callable(required) else bool(required)

    def _credentials(self, scope: Scope) -> _Credentials | None:
        headers = header_values(scope, b"authorization")
        if len(headers) > 1:
            raise InvalidRequest("several Authorization headers")
        if headers:
            return _Credentials(token=None, header=headers[0], from_cookie=False)
        if not self.cookie_auth:
            return None
        cookie_headers = header_values(scope, b"cookie")
        token = parse_cookies("; ".join(cookie_headers)).get(TOKEN_COOKIE)
        if not token:
            return None
        return _Credentials(token=token, header=None, from_cookie=True)

    def _check_origin(self, scope: Scope) -> None:
        if scope["type"] == "http" and scope.get("method", "GET") in SAFE_METHODS:
            return
        origins = header_values(scope, b"origin")
        expected = self.allowed_origin or request_origin(scope)
        if len(origins) != 1 or expected is None or origins[0] != expected:
            raise CsrfRejected()

    async def _user(self, scope: Scope) -> AuthenticatedUser | None:
        credentials = self._credentials(scope)
        claims: TokenClaims | None = None
        try:
            if credentials is None:
                raise MissingToken()
            if credentials.from_cookie:
                self._check_origin(scope)
                assert credentials.token is not None  # noqa: S101 - set together
                claims = self.authenticate.verify_token(credentials.token)
            else:
                claims = self.authenticate.verify(credentials.header)
        except MissingToken:
            if self._is_required(scope):
                raise
            return None
        user = self.authenticate.cached_user_for(claims)
        if user is None:
            user = await asyncio.to_thread(self.authenticate.user_for, claims)
        return user


def create_app(container: Container | None = None) -> Any:
    """The Starlette app with the login routes, ``/me``, ``/auth/logout``, the
    JWKS, OIDC discovery (https issuers) and ``/healthz``.

    Without ``container`` it is built from the environment, so
    ``uvicorn --factory wikibot_auth.entrypoints.asgi:create_app`` works.
    """
    from .routes import build_app

    if container is None:
        from .containers import create_container

        container = create_container()
    return build_app(container)
