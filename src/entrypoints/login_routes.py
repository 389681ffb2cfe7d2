"""The login flow's routes: ``/auth/login`` (and its chooser), the callbacks.

Each configured identity provider has its own callback,
``<WIKIBOT_AUTH_REDIRECT_URI>/<name>`` (route ``/auth/callback/{provider}``),
and the login cookie names the provider the login went to: a callback of
another provider is ``invalid_callback`` and its code goes to no provider (the
IdP mix-up defence of RFC 9700 §4.4). A lone provider keeps the bare
``/auth/callback``. Imported by ``routes`` only (Starlette).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ..domain.audit import audit
from ..domain.errors import (
    AuthError,
    InternalError,
    InvalidCallback,
    InvalidRequest,
    LoginFailed,
    NotConfigured,
)
from ..domain.model import AuthorizationRequest, LoginCallback, LoginResult
from ..domain.pkce import code_challenge_s256, new_code_verifier, new_state
from ..domain.ports import IdentityProvider
from .containers import Container
from .cookies import CookiePolicy, cookie_values, single_cookie
from .identity_providers import IdentityProviders, callback_uri
from .login_state import MAX_COOKIE, check_return_to
from .pages import PAGE_HEADERS, chooser_page
from .settings import PREFIX, is_loopback_host
from .wire import error_answer

logger = logging.getLogger("wikibot_auth")

TOKEN_HEADERS = {"cache-control": "no-store", "referrer-policy": "no-referrer"}
REDIRECT_URI_VARIABLE = f"{PREFIX}REDIRECT_URI"
# Query parameters of a callback that must come once (a second copy could
# make two readers of one URL see two different answers).
_SINGLE = ("code", "state", "iss")


def error_response(error: AuthError, *extra_cookies: str) -> Response:
    answer = error_answer(error)
    response = Response(answer.body, status_code=answer.status)
    response.headers.update(answer.headers)
    for cookie in extra_cookies:
        response.headers.append("set-cookie", cookie)
    return response


def is_browser(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def providers_of(value: Mapping[str, IdentityProvider]) -> IdentityProviders:
    """The container's ``identity_providers`` (a plain mapping put in by an
    override counts as adapters of kind ``custom``)."""
    if isinstance(value, IdentityProviders):
        return value
    return IdentityProviders.of(value)


class LoginRoutes:
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

    def identity_providers(self) -> IdentityProviders:
        return providers_of(self.container.identity_providers())

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

    def callback_uri(
        self, request: Request, name: str, providers: IdentityProviders
    ) -> str:
        """Provider ``name``'s callback: ``<redirect URI>/<name>``, the bare
        redirect URI for a lone provider."""
        return callback_uri(self.redirect_uri(request), name, lone=providers.lone)

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

    async def login(self, request: Request) -> Response:
        query = request.query_params
        return_to = check_return_to(query.get("return_to"))
        other_loopback = self._other_loopback_name(request)
        if other_loopback is not None:  # its cookie would not reach the callback
            return RedirectResponse(other_loopback, status_code=302)
        providers = self.identity_providers()
        asked = query.getlist("provider")
        if len(asked) > 1:
            raise InvalidRequest("provider is given twice")
        if asked:
            name = asked[0]
            if name not in providers:
                raise InvalidRequest("no identity provider of that name")
        elif providers.default_name is None:
            raise NotConfigured("no identity provider is configured")
        elif len(providers) > 1 and is_browser(request):
            page = chooser_page(providers.listing(), return_to)
            return HTMLResponse(page, headers={**PAGE_HEADERS, "vary": "accept"})
        else:
            name = providers.default_name
        state, verifier = new_state(), new_code_verifier()
        nonce = new_state() if providers.takes_nonce(name) else None
        url = self.container.authorization_url()(
            AuthorizationRequest(
                state=state,
                code_challenge=code_challenge_s256(verifier),
                redirect_uri=self.callback_uri(request, name, providers),
                nonce=nonce,
                provider=name,
            )
        )
        value = self.container.login_state().dumps(
            state, verifier, return_to, provider=name, nonce=nonce
        )
        cookie = self.cookies(request).set_login(value)
        if len(cookie.encode("latin-1")) > MAX_COOKIE:
            raise InvalidRequest("return_to is too long")
        response = RedirectResponse(url, status_code=302)
        response.headers.update(TOKEN_HEADERS)
        response.headers.append("set-cookie", cookie)
        return response

    async def providers(self, request: Request) -> Response:
        """``[{name, kind}, ...]``, the default first."""
        return JSONResponse(
            self.identity_providers().listing(), headers={"cache-control": "no-store"}
        )

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
        browser = is_browser(request)
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
            provider = request.path_params.get("provider")
            audit("login.failed", code=exc.code, provider=provider)
            raise
        exchange = self.container.exchange_auth_code()
        result = await asyncio.to_thread(exchange.finish, callback)
        return result, return_to

    def _provider_of(self, request: Request, providers: IdentityProviders) -> str:
        """The provider this callback is for: the route's, or the lone one's."""
        named = request.path_params.get("provider")
        if named is None:
            if not providers.lone or providers.default_name is None:
                raise InvalidCallback(
                    "the bare callback serves a lone identity provider only"
                )
            return providers.default_name
        if named not in providers:
            raise InvalidCallback("the callback names no configured identity provider")
        return str(named)

    def _check_callback(self, request: Request) -> tuple[LoginCallback, str]:
        query = request.query_params
        if "error" in query:
            raise LoginFailed("the identity provider answered with an error")
        if any(len(query.getlist(key)) > 1 for key in _SINGLE):
            raise InvalidCallback("a callback parameter is given twice")
        providers = self.identity_providers()
        name = self._provider_of(request, providers)
        # Our own parser (Starlette's keeps the last of two): a planted second
        # login cookie makes the callback invalid.
        cookie_header = "; ".join(request.headers.getlist("cookie"))
        cookie_name = self.cookies(request).login_cookie
        if len(cookie_values(cookie_header, cookie_name)) > 1:
            raise InvalidCallback("two login cookies")
        login = self.container.login_state().loads(
            single_cookie(cookie_header, cookie_name)
        )
        if login.provider != name:
            # RFC 9700 §4.4: the code came back to another provider's callback
            # than the login went to; it goes to no provider.
            logger.warning(
                "login callback for %s refused: the login went to %s",
                name,
                login.provider,
            )
            raise InvalidCallback("the callback is not the login's provider's")
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
            redirect_uri=self.callback_uri(request, name, providers),
            nonce=login.nonce,
            iss=query.get("iss"),
            provider=name,
        )
        return callback, login.return_to
