"""The Starlette routes behind ``asgi.create_app`` (imported only there)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlencode

from .extras import SERVER, missing_extra

try:  # the `server` extra (the Lambda handler's `lambda` extra brings it too)
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import (
        HTMLResponse,
        JSONResponse,
        RedirectResponse,
        Response,
    )
    from starlette.routing import Route
except ModuleNotFoundError as exc:  # pragma: no cover - tested in a subprocess
    raise missing_extra("wikibot_auth.entrypoints.routes", SERVER, exc) from exc

from ..adapters.local_idp import LocalIdentityProvider
from ..domain.errors import (
    AuthError,
    CredentialsError,
    InternalError,
    InvalidRequest,
    MissingToken,
)
from ..domain.model import LOCAL_PROVIDER
from .asgi import AuthMiddleware, PlatformUser, authenticate_scope
from .containers import Container
from .cookies import CookiePolicy
from .local_guard import LocalOnly
from .login_routes import TOKEN_HEADERS, LoginRoutes, error_response
from .pages import PAGE_HEADERS, home_page, sign_in_page

logger = logging.getLogger("wikibot_auth")

MAX_FORM_BYTES = 16 * 1024

Endpoint = Callable[[Request], Awaitable[Response]]


def _answers_errors(endpoint: Endpoint) -> Endpoint:
    @functools.wraps(endpoint)
    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except AuthError as exc:
            return error_response(exc)
        except ClientDisconnect:  # the client went away: nobody to answer
            logger.debug("client disconnected from %s", request.url.path)
            return Response(status_code=400)
        except Exception:
            logger.exception("unexpected error in %s", request.url.path)
            return error_response(InternalError())

    return run


class Routes:
    def __init__(self, container: Container) -> None:
        self.container = container
        config = container.config
        self.login_flow = LoginRoutes(container)
        configured_redirect_uri = self.login_flow.configured_redirect_uri
        # The credentials rule of the authenticated routes (the middleware's).
        self.authenticate = container.authenticate()
        self.cookie_auth = bool(config.cookie_auth())
        self.allowed_origin = (
            CookiePolicy.for_redirect_uri(configured_redirect_uri).origin
            if configured_redirect_uri
            else None
        )

    def redirect_uri(self, request: Request) -> str:
        """The configured redirect URI; derived from the request only in
        development on a loopback host (never from an attacker's Host)."""
        return self.login_flow.redirect_uri(request)

    def cookies(self, request: Request) -> CookiePolicy:
        return self.login_flow.cookies(request)

    def local_idp(self) -> LocalIdentityProvider | None:
        return self.container.active_local_identity_provider()

    async def home(self, request: Request) -> Response:
        names = self.login_flow.identity_providers()
        idp = ", ".join(names) or "none"
        return HTMLResponse(home_page(idp=idp), headers=PAGE_HEADERS)

    async def local_sign_in_page(self, request: Request) -> Response:
        if self.local_idp() is None:
            return Response(status_code=404)
        query = request.query_params
        page = sign_in_page(
            state=query.get("state", ""),
            code_challenge=query.get("code_challenge", ""),
        )
        return HTMLResponse(page, headers=PAGE_HEADERS)

    async def local_sign_in(self, request: Request) -> Response:
        idp = self.local_idp()
        if idp is None:
            return Response(status_code=404)
        body = await _read_limited(request, MAX_FORM_BYTES)
        form = {
            k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v
        }
        code = idp.issue_code(
            form.get("email", ""),
            form.get("display_name", ""),
            form.get("code_challenge", ""),
        )
        query = urlencode({"code": code, "state": form.get("state", "")})
        providers = self.login_flow.identity_providers()
        callback = self.login_flow.callback_uri(request, LOCAL_PROVIDER, providers)
        response = RedirectResponse(f"{callback}?{query}", status_code=303)
        response.headers.update(TOKEN_HEADERS)
        return response

    async def logout(self, request: Request) -> Response:
        user = _user(request)
        if request.query_params.get("everywhere", "").lower() in ("true", "1"):
            sign_out = self.container.sign_out_everywhere()
            await asyncio.to_thread(sign_out, user.identity)
        response = Response(status_code=204)
        response.headers.update(TOKEN_HEADERS)
        response.headers.append("set-cookie", self.cookies(request).expire_token())
        return response

    async def me(self, request: Request) -> Response:
        try:
            user = await authenticate_scope(
                request.scope,
                self.authenticate,
                cookie_auth=self.cookie_auth,
                allowed_origin=self.allowed_origin,
            )
        except CredentialsError:
            # A browser whose cookie is missing, expired or revoked signs in
            # again; an API client (it sent the header) gets the error.
            browser = "text/html" in request.headers.get("accept", "")
            if not browser or "authorization" in request.headers:
                raise
            response = RedirectResponse("/auth/login?return_to=/me", status_code=303)
            response.headers.append("set-cookie", self.cookies(request).expire_token())
            return response
        return JSONResponse(user.public_dict(), headers={"cache-control": "no-store"})

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(
            self.container.token_signer().jwks(),
            headers={"cache-control": "public, max-age=300"},
        )

    async def openid_configuration(self, request: Request) -> Response:
        issuer: str = self.container.config.issuer()
        if not issuer.startswith("https://"):
            return Response(status_code=404)
        base = issuer.rstrip("/")
        return JSONResponse(
            {
                "issuer": issuer,
                "jwks_uri": f"{base}/.well-known/jwks.json",
                "authorization_endpoint": f"{base}/auth/login",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": ["sub", "iss", "aud", "iat", "exp", "jti"],
            },
            headers={"cache-control": "public, max-age=300"},
        )

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})


def _user(request: Request) -> PlatformUser:
    user = request.scope.get("user")
    if not isinstance(user, PlatformUser):
        raise MissingToken()
    return user


async def _read_limited(request: Request, limit: int) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise InvalidRequest("the form is too large")
    return body


def build_app(container: Container) -> Any:
    """The Starlette app; behind ``LocalOnly`` while the local IdP is active."""
    routes = Routes(container)
    authenticated = [
        Middleware(
            AuthMiddleware,
            authenticate=routes.authenticate,
            required=True,
            cookie_auth=routes.cookie_auth,
            allowed_origin=routes.allowed_origin,
        )
    ]

    def route(path: str, endpoint: Endpoint, method: str, **kwargs: Any) -> Route:
        return Route(path, _answers_errors(endpoint), methods=[method], **kwargs)

    login = routes.login_flow
    callbacks = [
        route("/auth/callback", login.callback, "GET", name="callback"),
        route("/auth/callback/{provider}", login.callback, "GET"),
    ]
    for callback in callbacks:
        # Starlette adds HEAD to GET routes: a link prefetcher's HEAD must
        # not spend the code.
        callback.methods = {"GET"}

    app = Starlette(
        routes=[
            route("/", routes.home, "GET"),
            route("/auth/login", login.login, "GET"),
            route("/auth/providers", login.providers, "GET"),
            *callbacks,
            route("/auth/local/sign-in", routes.local_sign_in_page, "GET"),
            route("/auth/local/sign-in", routes.local_sign_in, "POST"),
            route("/auth/logout", routes.logout, "POST", middleware=authenticated),
            route("/me", routes.me, "GET"),
            route("/.well-known/jwks.json", routes.jwks, "GET"),
            route(
                "/.well-known/openid-configuration",
                routes.openid_configuration,
                "GET",
            ),
            route("/healthz", routes.healthz, "GET"),
        ]
    )
    return app if routes.local_idp() is None else LocalOnly(app)
