"""FastAPI: ``current_user`` and ``optional_user`` dependencies, and ``install(app)``.

    from typing import Annotated
    from fastapi import Depends, FastAPI
    from wikibot_auth import AuthenticatedUser
    from wikibot_auth.entrypoints.fastapi import current_user, install

    app = FastAPI()
    install(app)  # or install(app, container=container)

    @app.get("/hello")
    async def hello(user: Annotated[AuthenticatedUser, Depends(current_user)]):
        return {"hello": user.display_name}

Both dependencies are declared through an HTTP Bearer security scheme (OpenAPI
name ``wikibot_auth``), so ``/docs`` shows the lock and its "Authorize" button
takes a platform token. They read the same credentials as ``AuthMiddleware``
(the ``Authorization`` header, else the token cookie with the Origin rule) and
reuse the middleware's ``scope["user"]`` when it ran. A refusal raises
``AuthHTTPException`` (status and headers from the wire table); ``install(app)``
answers it with the wire JSON body ``{"error", "error_description"}``.
Needs the ``fastapi`` extra: ``pip install 'wikibot-auth[fastapi]'``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import attrs

# This module is named after the framework; the package imports itself
# relatively, so the absolute imports below always reach the real FastAPI.
from .extras import FASTAPI, missing_extra

try:
    from fastapi import FastAPI, HTTPException, Security
    from fastapi.requests import HTTPConnection
    from fastapi.responses import Response
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
except ModuleNotFoundError as exc:  # pragma: no cover - tested in a subprocess
    raise missing_extra("wikibot_auth.entrypoints.fastapi", FASTAPI, exc) from exc

from ..domain.errors import AuthError, InternalError, MissingToken, NotConfigured
from ..domain.model import AuthenticatedUser
from ..domain.use_cases import Authenticate
from .asgi import AnonymousUser, PlatformUser, authenticate_scope
from .cookies import origin_of
from .wire import error_answer, wire_error

if TYPE_CHECKING:
    from .containers import Container

__all__ = [
    "AuthHTTPException",
    "bearer_scheme",
    "current_user",
    "install",
    "optional_user",
]

logger = logging.getLogger("wikibot_auth")

# Where ``install`` keeps its settings: ``app.state.wikibot_auth``.
STATE_ATTRIBUTE = "wikibot_auth"

bearer_scheme = HTTPBearer(
    bearerFormat="JWT",
    scheme_name="wikibot_auth",
    description=(
        "A wikibot.io platform token (RS256 JWT) from the login callback, sent "
        "as `Authorization: Bearer <token>`. Browsers may send the token cookie "
        "instead."
    ),
    # Only declares the scheme for OpenAPI: our own parser (RFC 6750, one
    # header, the cookie rule) reads the credentials and answers the errors.
    auto_error=False,
)


class AuthHTTPException(HTTPException):
    """A refusal as FastAPI's ``HTTPException``: ``status_code`` and ``headers``
    (``WWW-Authenticate``, ``Retry-After``, ``Cache-Control``) from the wire
    table, ``detail`` its fixed sentence, ``code`` the machine code, ``error``
    the domain error (its message is for logs). FastAPI's own handler answers
    ``{"detail": ...}``; ``install(app)`` answers the wire JSON body."""

    def __init__(self, error: AuthError) -> None:
        answer = error_answer(error)
        super().__init__(
            answer.status,
            detail=wire_error(error).description,
            headers=dict(answer.headers),
        )
        self.code = answer.code
        self.error = error
        self.body = answer.body


async def answer_auth_http_exception(
    connection: HTTPConnection, exc: Exception
) -> Response:
    """The exception handler ``install(app)`` registers: the wire answer (on a
    websocket, the HTTP denial response)."""
    if not isinstance(exc, AuthHTTPException):  # pragma: no cover - registered so
        raise exc
    return Response(exc.body, status_code=exc.status_code, headers=exc.headers)


@attrs.frozen
class Installed:
    """What ``install`` keeps on ``app.state``: the use case and the rules the
    credentials are read by (those ``create_app()`` gives its middleware)."""

    authenticate: Authenticate
    cookie_auth: bool = True
    allowed_origin: str | None = None


def install(app: FastAPI, *, container: Container | None = None) -> None:
    """Make ``app`` answer refusals with the wire JSON body and give the
    dependencies the ``Authenticate`` use case they call when no
    ``AuthMiddleware`` ran.

    ``container`` (share the one serving ``create_app(container)`` when both
    run in one process) defaults to ``create_container()``, read from the
    environment. Its settings apply as in ``create_app()``:
    ``WIKIBOT_AUTH_COOKIE_AUTH`` turns the token cookie off, and a cookie-
    authenticated unsafe request needs an ``Origin`` equal to the redirect
    URI's origin (without ``WIKIBOT_AUTH_REDIRECT_URI``: the request's own).
    The container's resources stay its creator's to shut down. Call it on
    the app whose routes use the dependencies (a mounted sub-app has its own
    ``state``).

    Raises:
        NotConfigured: the environment's settings are missing or invalid.
    """
    if container is None:
        from .containers import create_container

        container = create_container()
    redirect_uri = container.config.redirect_uri()
    setattr(
        app.state,
        STATE_ATTRIBUTE,
        Installed(
            authenticate=container.authenticate(),
            cookie_auth=bool(container.config.cookie_auth()),
            allowed_origin=origin_of(redirect_uri) if redirect_uri else None,
        ),
    )
    app.add_exception_handler(AuthHTTPException, answer_auth_http_exception)


def _installed(connection: HTTPConnection) -> Installed:
    found = getattr(connection.app.state, STATE_ATTRIBUTE, None)
    if not isinstance(found, Installed):
        logger.error(
            "wikibot_auth.entrypoints.fastapi.install(app) was not called on the "
            "app serving %s, and no AuthMiddleware ran",
            connection.url.path,
        )
        raise AuthHTTPException(NotConfigured("install(app) was not called"))
    return found


async def _user(connection: HTTPConnection) -> AuthenticatedUser | None:
    """The request's user, None without credentials."""
    seen = connection.scope.get("user")
    if isinstance(seen, PlatformUser):  # AuthMiddleware ran: no second check
        return seen.user
    if isinstance(seen, AnonymousUser):
        return None
    installed = _installed(connection)
    try:
        return await authenticate_scope(
            connection.scope,
            installed.authenticate,
            cookie_auth=installed.cookie_auth,
            allowed_origin=installed.allowed_origin,
        )
    except MissingToken:
        return None
    except AuthError as exc:
        raise AuthHTTPException(exc) from exc
    except Exception as exc:
        logger.exception("unexpected error while authenticating")
        raise AuthHTTPException(InternalError()) from exc


# The scheme's own parse result is not used: it declares the scheme in OpenAPI.
_Declared = Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)]


async def current_user(
    connection: HTTPConnection, _declared: _Declared
) -> AuthenticatedUser:
    """The authenticated user of this request:
    ``Annotated[AuthenticatedUser, Depends(current_user)]``.

    Raises:
        AuthHTTPException: no credentials (401 ``missing_token``) or a refusal
            (``invalid_token``, ``token_expired``, ``token_revoked``,
            ``unknown_user``, ``user_disabled``, ``csrf_rejected``,
            ``invalid_request``, 503 ``store_unavailable``, ...).
    """
    user = await _user(connection)
    if user is None:
        raise AuthHTTPException(MissingToken())
    return user


async def optional_user(
    connection: HTTPConnection, _declared: _Declared
) -> AuthenticatedUser | None:
    """The authenticated user, or None when the request carries no
    credentials: ``Annotated[AuthenticatedUser | None, Depends(optional_user)]``.

    Raises:
        AuthHTTPException: credentials were sent and refused (a bad token is
            an error, never anonymous).
    """
    return await _user(connection)
