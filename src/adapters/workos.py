"""The ``IdentityProvider`` port over WorkOS User Management.

No WorkOS SDK. This module builds the authorize URL and maps WorkOS's answers
onto the login's profile; its calls (the code exchange, never retried, then the
user and identities reads) go through ``workos_api``, the WorkOS call and error
mapping it shares with ``WorkOSIdentityDirectory``. Nothing secret (API key,
code, verifier, WorkOS tokens) reaches a log line or an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from ..domain.errors import AuthError, IdPError, InvalidRequest, NotConfigured
from ..domain.model import (
    AuthorizationRequest,
    Identity,
    IdentityProfile,
    LoginCallback,
)
from .bounded_http import BoundedHttpClient
from .oauth_client import is_text, redirect_uri_of
from .workos_api import (
    DEFAULT_BASE_URL,
    SERVICE,
    WorkOSApi,
    choose_identity,
    is_user_id,
    optional_text,
)

__all__ = ["DEFAULT_BASE_URL", "WorkOSIdentityProvider", "choose_identity"]

logger = logging.getLogger("wikibot_auth.workos")

SCREEN_HINTS = ("sign-in", "sign-up")


class WorkOSIdentityProvider:
    """WorkOS User Management as an ``IdentityProvider``.

    ``http`` is the shared ``BoundedHttpClient``: it bounds each request and
    owns the retry policy. ``budget`` (default: the client's, twice its
    timeout) bounds one operation with all its requests, retries and waits.
    ``api_key`` is sent as the Bearer token and as ``client_secret``.
    """

    def __init__(
        self,
        http: BoundedHttpClient,
        *,
        api_key: str,
        client_id: str,
        base_url: str = DEFAULT_BASE_URL,
        redirect_uri: str | None = None,
        provider: str | None = "authkit",
        connection_id: str | None = None,
        organization_id: str | None = None,
        budget: float | None = None,
    ) -> None:
        if not api_key or not client_id:
            raise NotConfigured(
                "the WorkOS IdP needs WORKOS_API_KEY and WORKOS_CLIENT_ID"
            )
        if not (provider or connection_id or organization_id):
            raise NotConfigured(
                "the WorkOS IdP needs a provider, connection_id or organization_id"
            )
        self._api = WorkOSApi(http, api_key=api_key, base_url=base_url, budget=budget)
        self._api_key = api_key
        self._client_id = client_id
        self._redirect_uri = redirect_uri
        # Which login WorkOS shows: a connection, else an organization, else a
        # provider (AuthKit by default).
        self._target = next(
            (name, value)
            for name, value in (
                ("connection_id", connection_id),
                ("organization_id", organization_id),
                ("provider", provider),
            )
            if value
        )

    def __repr__(self) -> str:
        return f"WorkOSIdentityProvider(base_url={self._api.base_url!r})"

    # -- the port ---------------------------------------------------------

    def authorization_url(self, request: AuthorizationRequest) -> str:
        redirect = redirect_uri_of(request.redirect_uri, self._redirect_uri, SERVICE)
        screen_hint, login_hint = request.screen_hint, request.login_hint
        if screen_hint is not None and screen_hint not in SCREEN_HINTS:
            raise InvalidRequest("screen_hint must be sign-in or sign-up")
        if login_hint and not is_text(login_hint, 320):
            raise InvalidRequest("login_hint must be an email address")
        params: dict[str, str] = {
            "client_id": self._client_id,
            "redirect_uri": redirect,
            "response_type": "code",
        }
        params[self._target[0]] = self._target[1]
        params.update(
            state=request.state,
            code_challenge=request.code_challenge,
            code_challenge_method="S256",
        )
        if login_hint:
            params["login_hint"] = login_hint
        if screen_hint and params.get("provider") == "authkit":
            params["screen_hint"] = screen_hint
        return f"{self._api.base_url}/user_management/authorize?{urlencode(params)}"

    def exchange_code(self, callback: LoginCallback) -> IdentityProfile:
        deadline = self._api.deadline()
        body = {
            "grant_type": "authorization_code",
            "client_id": self._client_id,
            "client_secret": self._api_key,
            "code": callback.code,
            "code_verifier": callback.code_verifier,
        }
        path = "/user_management/authenticate"
        data = self._api.call("POST", "authenticate", path, deadline, body)
        if not isinstance(data, dict) or not isinstance(data.get("user"), dict):
            raise IdPError("WorkOS answered the code exchange with a wrong shape")
        user: dict[str, Any] = data["user"]
        user_id = user.get("id")
        if not is_user_id(user_id):
            raise IdPError("WorkOS answered a user without a usable id")
        if not is_text(user.get("email"), 320):
            user = self._api.user(user_id, deadline)
        identity, failed = self._lookup_identity(user_id, deadline)
        return _profile(user_id, user, identity=identity, identity_lookup_failed=failed)

    # -- helpers ------------------------------------------------------------

    def _lookup_identity(
        self, user_id: str, deadline: float
    ) -> tuple[Identity | None, bool]:
        # The code is spent by now: no failure here may fail the login. The
        # domain logs the warning; the request's own log line has the cause.
        try:
            return self._api.identity(user_id, deadline), False
        except AuthError as exc:
            logger.debug("WorkOS identities lookup failed: code=%s", exc.code)
        except Exception as exc:
            logger.error(
                "WorkOS identities lookup failed unexpectedly: %s", type(exc).__name__
            )
        return None, True


def _profile(
    user_id: str,
    user: Mapping[str, Any],
    *,
    identity: Identity | None,
    identity_lookup_failed: bool,
) -> IdentityProfile:
    email_address = user.get("email")
    if not is_text(email_address, 320):
        raise IdPError("WorkOS answered a user without a usable email")
    verified = user.get("email_verified")
    return IdentityProfile(
        alias=Identity.workos(user_id),
        email=str(email_address),
        first_name=optional_text(user, "first_name", 256),
        last_name=optional_text(user, "last_name", 256),
        identity=identity,
        identity_lookup_failed=identity_lookup_failed,
        email_verified=verified if isinstance(verified, bool) else None,
    )
