"""The Starlette routes behind ``asgi.create_app`` (imported only there)."""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

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
    InvalidCallback,
    InvalidRequest,
    LoginFailed,
    MissingToken,
    NotConfigured,
)
from ..domain.model import AuthorizationRequest, LoginCallback, LoginResult
from ..domain.pkce import code_challenge_s256, new_code_verifier, new_state
from .asgi import AuthMiddleware, PlatformUser, authenticate_scope
from .containers import Container
from .cookies import CookiePolicy, cookie_values, single_cookie
from .local_guard import LocalOnly
from .login_state import MAX_COOKIE, check_return_to
from .pages import PAGE_HEADERS, home_page, sign_in_page
from .settings import PREFIX, is_loopback_host
from .wire import error_answer

logger = logging.getLogger("wikibot_auth")

TOKEN_HEADERS = {"cache-control": "no-store", "referrer-policy": "no-referrer"}
MAX_FORM_BYTES = 16 * 1024
REDIRECT_URI_VARIABLE = f"{PREFIX}REDIRECT_URI"

Endpoint = Callable[[Request], Awaitable[Response]]


def error_response(error: AuthError, *extra_cookies: str) -> Response:
    answer = error_answer(error)
    response = Response(answer.body, status_code=answer.status)
    response.headers.update(answer.headers)
    for cookie in extra_cookies:
        response.headers.append("set-cookie", cookie)
    return response


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
        self.configured_redirect_uri: str | None = config.redirect_uri()
        self.production = config.env() == "production"
        # never derived from a Host header an attacker chooses
        if not self.configured_redirect_uri and config.redirect_uri_required():
            raise NotConfigured(
                f"{REDIRECT_URI_VARIABLE} is required in production and with a "
                "remote IdP"
            )
        # The credentials rule of the authenticated routes (the middleware's).
        self.authenticate = container.authenticate()
        self.cookie_auth = bool(config.cookie_auth())
        self.allowed_origin = (
            CookiePolicy.for_redirect_uri(self.configured_redirect_uri).origin
            if self.configured_redirect_uri
            else None
        )

    def redirect_uri(self, request: Request) -> str:
        """The configured redirect URI; derived from the request only in
        development on a loopback host (never from an attacker's Host)."""
        if self.configured_redirect_uri:
            return self.configured_redirect_uri
        if not self.production and is_loopback_host(request.url.hostname):
            return str(request.url_for("callback"))
        raise NotConfigured(
            f"{REDIRECT_URI_VARIABLE} is needed to log in on a non-loopback host"
        )

    def _other_loopback_name(self, request: Request) -> str | None:
        """This URL on the redirect URI's host when the request came to another
        loopback name (``localhost`` vs ``127.0.0.1``), else None."""
        target = urlsplit(self.redirect_uri(request))
        here = request.url.hostname
        if here == target.hostname or not (
            is_loopback_host(here) and is_loopback_host(target.hostname)
        ):
            return None
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return f"{target.scheme}://{target.netloc}{path}"

    def cookies(self, request: Request) -> CookiePolicy:
        return CookiePolicy.for_redirect_uri(self.redirect_uri(request))

    def local_idp(self) -> LocalIdentityProvider | None:
        return self.container.active_local_identity_provider()

    async def home(self, request: Request) -> Response:
        idp = self.container.config.idp()
        return HTMLResponse(home_page(idp=idp), headers=PAGE_HEADERS)

    async def login(self, request: Request) -> Response:
        return_to = check_return_to(request.query_params.get("return_to"))
        other_loopback = self._other_loopback_name(request)
        if other_loopback is not None:  # its cookie would not reach the callback
            return RedirectResponse(other_loopback, status_code=302)
        state, verifier = new_state(), new_code_verifier()
        url = self.container.authorization_url()(
            AuthorizationRequest(
                state=state,
                code_challenge=code_challenge_s256(verifier),
                redirect_uri=self.redirect_uri(request),
            )
        )
        value = self.container.login_state().dumps(state, verifier, return_to)
        cookie = self.cookies(request).set_login(value)
        if len(cookie.encode("latin-1")) > MAX_COOKIE:
            raise InvalidRequest("return_to is too long")
        response = RedirectResponse(url, status_code=302)
        response.headers.update(TOKEN_HEADERS)
        response.headers.append("set-cookie", cookie)
        return response

    async def callback(self, request: Request) -> Response:
        policy = self.cookies(request)
        expire = policy.expire_login()
        try:
            result, return_to = await self._finish_login(request)
        except Exception as exc:  # every answer expires the login cookie
            error = exc if isinstance(exc, AuthError) else InternalError()
            if not isinstance(exc, AuthError):
                logger.exception("unexpected error in the login callback")
            failed = error_response(error, expire)
            failed.headers.update(TOKEN_HEADERS)
            return failed
        browser = "text/html" in request.headers.get("accept", "")
        response: Response
        if browser:
            response = RedirectResponse(return_to, status_code=303)
        else:
            response = JSONResponse(
                {
                    "token": result.token,
                    "token_type": "Bearer",
                    "expires_in": result.expires_in,
                    "user": result.user.public_dict(),
                }
            )
        response.headers.update(TOKEN_HEADERS)
        response.headers.append("set-cookie", expire)
        if browser:  # API clients get the token in the body only
            response.headers.append(
                "set-cookie", policy.set_token(result.token, result.expires_in)
            )
        return response

    async def _finish_login(self, request: Request) -> tuple[LoginResult, str]:
        try:
            callback, return_to = self._check_callback(request)
        except AuthError as exc:
            logger.info("login failed: code=%s", exc.code)
            raise
        exchange = self.container.exchange_auth_code()
        result = await asyncio.to_thread(exchange.finish, callback)
        return result, return_to

    def _check_callback(self, request: Request) -> tuple[LoginCallback, str]:
        query = request.query_params
        if "error" in query:
            raise LoginFailed("the identity provider answered with an error")
        # Our own parser (Starlette's keeps the last of two): a planted second
        # login cookie makes the callback invalid.
        cookie_header = "; ".join(request.headers.getlist("cookie"))
        name = self.cookies(request).login_cookie
        if len(cookie_values(cookie_header, name)) > 1:
            raise InvalidCallback("two login cookies")
        login = self.container.login_state().loads(single_cookie(cookie_header, name))
        state = query.get("state", "")
        if not hmac.compare_digest(
            state.encode("utf-8", "replace"), login.state.encode("utf-8")
        ):
            raise InvalidCallback("the state does not match the login cookie")
        code = query.get("code")
        if not code:
            raise InvalidCallback("the callback carries no code")
        callback = LoginCallback(
            code=code,
            code_verifier=login.verifier,
            redirect_uri=self.redirect_uri(request),
            iss=query.get("iss"),
        )
        return callback, login.return_to

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
        response = RedirectResponse(
            f"{self.redirect_uri(request)}?{query}", status_code=303
        )
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

    callback = route("/auth/callback", routes.callback, "GET", name="callback")
    # Starlette adds HEAD to GET routes: a link prefetcher's HEAD must not
    # spend the code.
    callback.methods = {"GET"}

    app = Starlette(
        routes=[
            route("/", routes.home, "GET"),
            route("/auth/login", routes.login, "GET"),
            callback,
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
