"""ASGI: ``AuthMiddleware`` (pure ASGI, no framework) and ``create_app()``.

    app = AuthMiddleware(app, authenticate=container.authenticate())

sets ``scope["user"]`` and ``scope["auth"]`` the way Starlette's
``request.user`` and ``@requires("authenticated")`` expect. ``create_app()``
(``uvicorn --factory wikibot_auth.entrypoints.asgi:create_app``) serves the
login routes, ``/me`` and the JWKS; Starlette is imported only there.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from ..domain.errors import AuthError, InternalError, MissingToken
from ..domain.model import AuthenticatedUser
from ..domain.use_cases import Authenticate
from .cookies import TOKEN_COOKIE, cookie_name, is_secure_origin, origin_of
from .credentials import Credentials, Headers, collect_headers, read_credentials
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


def scope_headers(scope: Scope) -> dict[str, list[str]]:
    """Lower-cased header name -> values of an ASGI scope."""
    return collect_headers(
        (key.decode("latin-1"), value.decode("latin-1"))
        for key, value in scope.get("headers", ())
    )


def request_origins(scope: Scope, headers: Headers) -> frozenset[str]:
    """The origins of the host this request was addressed to (Host header): with
    the scope's scheme, and with https (a TLS-terminating proxy in front sends an
    http scope for an https page). Empty without exactly one Host."""
    hosts = headers.get("host", [])
    if len(hosts) != 1:
        return frozenset()
    scheme = str(scope.get("scheme", "http"))
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    try:
        return frozenset(origin_of(f"{s}://{hosts[0]}") for s in (scheme, "https"))
    except ValueError:  # a malformed Host (bad port, unclosed bracket) names no origin
        return frozenset()


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
    token cookie (``__Host-wikibot_auth_token``; the bare ``wikibot_auth_token``
    on plain-http loopback). A cookie-authenticated request whose method is
    not GET/HEAD/OPTIONS (and every websocket) needs an ``Origin`` equal to
    ``allowed_origin``, else ``csrf_rejected``. Without ``allowed_origin`` the
    Origin must name the host the request was sent to (its ``Host`` header), with
    the scope's scheme or https; ``create_app()`` passes its redirect URI's origin.
    Requests without credentials pass as anonymous unless ``required`` (a bool,
    or a predicate on the scope) says otherwise; bad credentials are answered
    from the error table. ``authenticate.acall``/``atoken`` check the token
    inline (CPU only) and read the user store in a worker thread only when the
    user cache cannot answer.
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
        self.allowed_origin = origin_of(allowed_origin) if allowed_origin else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        user: AuthenticatedUser | None
        try:
            # authenticate_scope inline (every request; a coroutine less):
            # exactly one Authorization header, the usual case, first.
            header = _authorization(scope)
            if header is not None:
                user = await self.authenticate.acall(header.decode("latin-1"))
            else:
                user = await authenticate_scope(
                    scope,
                    self.authenticate,
                    cookie_auth=self.cookie_auth,
                    allowed_origin=self.allowed_origin,
                )
        except MissingToken as exc:
            if self._is_required(scope):
                await send_error(scope, send, exc)
                return
            user = None
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


def _authorization(scope: Scope) -> bytes | None:
    """The value of the scope's only Authorization header; None when there
    is none or several. ASGI servers send header names lower-cased."""
    found = None
    for name, value in scope.get("headers", ()):
        if name == b"authorization" or (
            len(name) == 13 and name.lower() == b"authorization"
        ):
            if found is not None:
                return None
            found = value
    return found


async def authenticate_scope(
    scope: Scope,
    authenticate: Authenticate,
    *,
    cookie_auth: bool = True,
    allowed_origin: str | None = None,
) -> AuthenticatedUser:
    """The user of an http/websocket scope, by ``AuthMiddleware``'s credentials
    rule (``allowed_origin`` as ``origin_of`` writes it; None: the request's own
    origins). The FastAPI dependencies use it when the middleware did not run.

    Raises:
        MissingToken: the request carries no credentials.
        CsrfRejected, InvalidRequest: and whatever ``authenticate`` raises.
    """
    # The common case first: exactly one Authorization header, without
    # decoding every header.
    header = _authorization(scope)
    if header is not None:
        return await authenticate.acall(header.decode("latin-1"))
    credentials = _other_credentials(scope, cookie_auth, allowed_origin)
    if credentials.cookie_token is not None:
        return await authenticate.atoken(credentials.cookie_token)
    return await authenticate.acall(credentials.header)


def _other_credentials(
    scope: Scope, cookie_auth: bool, allowed_origin: str | None
) -> Credentials:
    headers = scope_headers(scope)
    allowed: frozenset[str] = frozenset()
    if allowed_origin is not None:
        allowed = frozenset({allowed_origin})
    elif cookie_auth:
        allowed = request_origins(scope, headers)
    credentials = read_credentials(
        headers,
        method=scope.get("method", "GET") if scope["type"] == "http" else None,
        cookie_auth=cookie_auth,
        allowed_origins=allowed,
        token_cookie=_token_cookie(scope, headers, allowed_origin),
    )
    if credentials is None:
        raise MissingToken()
    return credentials


def _token_cookie(scope: Scope, headers: Headers, allowed_origin: str | None) -> str:
    """``__Host-wikibot_auth_token`` unless the origin (``allowed_origin``,
    else the request's scheme and Host) is plain http on a loopback host."""
    origin = allowed_origin
    if origin is None:
        hosts = headers.get("host", [])
        scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
        origin = f"{scheme}://{hosts[0]}" if len(hosts) == 1 else "https://"
    try:
        secure = is_secure_origin(origin)
    except ValueError:  # a malformed Host: the strict name
        secure = True
    return cookie_name(TOKEN_COOKIE, secure=secure)


def create_app(container: Container | None = None) -> Any:
    """The Starlette app with the login routes, ``/me``, ``/auth/logout``, the
    JWKS, OIDC discovery (https issuers) and ``/healthz``.

    Without ``container`` it is built from the environment, so
    ``uvicorn --factory wikibot_auth.entrypoints.asgi:create_app`` works.

    Raises:
        NotConfigured: no ``WIKIBOT_AUTH_REDIRECT_URI`` in production or with
            WorkOS (elsewhere it is derived from a request on a loopback host only).
    """
    from .routes import build_app

    if container is None:
        from .containers import create_container

        container = create_container()
    return build_app(container)
