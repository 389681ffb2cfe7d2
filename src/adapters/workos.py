"""The ``IdentityProvider`` port over WorkOS User Management.

No WorkOS SDK: four calls (authorize URL, code exchange, identities, user) sent
through the shared ``BoundedHttpClient``, which bounds each request and each
operation, caps bodies and retries the two reads (never the single-use code
exchange). This module maps WorkOS's JSON onto domain values and its error
answers onto the domain's error family. Nothing secret (API key, code,
verifier, WorkOS tokens, WorkOS's error descriptions, which may quote the code)
reaches a log line or an exception.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from ..domain.errors import (
    AuthError,
    IdPError,
    IdPUnavailable,
    InvalidRequest,
    LoginFailed,
    LoginStepRequired,
    NotConfigured,
)
from ..domain.model import (
    LOCAL_PROVIDER,
    WORKOS_PROVIDER,
    AuthorizationRequest,
    Identity,
    IdentityProfile,
    LoginCallback,
    normalize_provider,
)
from .bounded_http import BoundedHttpClient, HttpAnswer, decode_json, is_safe_url

logger = logging.getLogger("wikibot_auth.workos")

DEFAULT_BASE_URL = "https://api.workos.com"
SERVICE = "WorkOS"
SCREEN_HINTS = ("sign-in", "sign-up")
# Identities naming our own namespaces would alias another account.
RESERVED_PROVIDERS = frozenset({WORKOS_PROVIDER, LOCAL_PROVIDER})
# 403 ``code`` values of WorkOS's authentication-flow errors (SDK list).
AUTH_FLOW_CODES = frozenset(
    {
        "email_verification_required",
        "mfa_enrollment",
        "mfa_challenge",
        "organization_selection_required",
        "sso_required",
        "organization_authentication_methods_required",
        "authentication_method_not_allowed",
        "email_password_auth_disabled",
        "passkey_progressive_enrollment",
        "radar_challenge",
        "radar_sign_up_challenge",
    }
)
# Only identifier-like codes from a response are ever logged or kept.
_SAFE_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
# WorkOS user ids (``user_01E4...``): nothing else is ever put in a URL path.
_USER_ID = re.compile(r"[A-Za-z0-9_]{1,64}")
_PROVIDER = re.compile(r"[a-z0-9_\-]{1,64}")
# Control characters and lone surrogates: no store or log line can take them.
_UNSAFE_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _is_text(value: object, limit: int) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= limit
        and not _UNSAFE_TEXT.search(value)
    )


def _optional_text(data: Mapping[str, Any], key: str, limit: int = 2048) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not _is_text(value, limit):
        raise IdPError(f"WorkOS answered an unusable {key}")
    return str(value)


def _workos_user_id(value: object) -> str:
    if isinstance(value, str) and _USER_ID.fullmatch(value):
        return value
    raise IdPError("WorkOS answered a user without a usable id")


def _safe_code(value: object) -> str | None:
    if isinstance(value, str) and _SAFE_CODE.fullmatch(value):
        return value
    return None


def _request_id(headers: Mapping[str, str]) -> str:
    value = headers.get("x-request-id", "")
    return value if _SAFE_REQUEST_ID.fullmatch(value) else "-"


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
        self._http = http
        self._api_key = api_key
        self._client_id = client_id
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        if not is_safe_url(self._base_url):
            raise NotConfigured(
                "WORKOS_BASE_URL must be an https URL (plain http only on a "
                "loopback host): the API key travels with every request"
            )
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
        self._budget = budget

    def __repr__(self) -> str:
        return f"WorkOSIdentityProvider(base_url={self._base_url!r})"

    # -- the port ---------------------------------------------------------

    def authorization_url(self, request: AuthorizationRequest) -> str:
        redirect = request.redirect_uri or self._redirect_uri
        if not redirect:
            raise NotConfigured("the WorkOS IdP needs WIKIBOT_AUTH_REDIRECT_URI")
        screen_hint, login_hint = request.screen_hint, request.login_hint
        if screen_hint is not None and screen_hint not in SCREEN_HINTS:
            raise InvalidRequest("screen_hint must be sign-in or sign-up")
        if login_hint and not _is_text(login_hint, 320):
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
        return f"{self._base_url}/user_management/authorize?{urlencode(params)}"

    def exchange_code(self, callback: LoginCallback) -> IdentityProfile:
        deadline = self._http.deadline(self._budget)
        body = {
            "grant_type": "authorization_code",
            "client_id": self._client_id,
            "client_secret": self._api_key,
            "code": callback.code,
            "code_verifier": callback.code_verifier,
        }
        path = "/user_management/authenticate"
        data = self._call("POST", "authenticate", path, deadline, body)
        if not isinstance(data, dict) or not isinstance(data.get("user"), dict):
            raise IdPError("WorkOS answered the code exchange with a wrong shape")
        user: dict[str, Any] = data["user"]
        user_id = _workos_user_id(user.get("id"))
        if not _is_text(user.get("email"), 320):
            user = self._user(user_id, deadline)
        identity, failed = self._lookup_identity(user_id, deadline)
        return self._profile(
            user_id, user, identity=identity, identity_lookup_failed=failed
        )

    # -- the original WorkOSClient's other calls ----------------------------

    def get_user_profile(self, user_id: str) -> IdentityProfile:
        """The WorkOS user's profile, without the raw identity.

        Raises:
            InvalidRequest: ``user_id`` is not a WorkOS user id.
            IdPError, IdPUnavailable
        """
        user_id = _argument_user_id(user_id)
        deadline = self._http.deadline(self._budget)
        return self._profile(user_id, self._user(user_id, deadline))

    def get_provider_sub(self, user_id: str) -> Identity | None:
        """The normalized raw ``(provider, idp_id)`` identity, or None when
        WorkOS lists none (see ``choose_identity``).

        Raises:
            InvalidRequest: ``user_id`` is not a WorkOS user id.
            IdPError: the answer had the wrong shape or an error status.
            IdPUnavailable: WorkOS could not be reached in time.
        """
        user_id = _argument_user_id(user_id)
        return self._identities(user_id, self._http.deadline(self._budget))

    # -- helpers ------------------------------------------------------------

    def _user(self, user_id: str, deadline: float) -> dict[str, Any]:
        path = f"/user_management/users/{user_id}"
        data = self._call("GET", "user", path, deadline)
        if not isinstance(data, dict) or data.get("id") != user_id:
            raise IdPError("WorkOS answered the user lookup with a wrong shape")
        return data

    def _identities(self, user_id: str, deadline: float) -> Identity | None:
        path = f"/user_management/users/{user_id}/identities"
        return choose_identity(self._call("GET", "identities", path, deadline))

    def _lookup_identity(
        self, user_id: str, deadline: float
    ) -> tuple[Identity | None, bool]:
        # The code is spent by now: no failure here may fail the login. The
        # domain logs the warning; the request's own log line has the cause.
        try:
            return self._identities(user_id, deadline), False
        except AuthError as exc:
            logger.debug("WorkOS identities lookup failed: code=%s", exc.code)
        except Exception as exc:
            logger.error(
                "WorkOS identities lookup failed unexpectedly: %s", type(exc).__name__
            )
        return None, True

    def _profile(
        self,
        user_id: str,
        user: Mapping[str, Any],
        *,
        identity: Identity | None = None,
        identity_lookup_failed: bool = False,
    ) -> IdentityProfile:
        email_address = user.get("email")
        if not _is_text(email_address, 320):
            raise IdPError("WorkOS answered a user without a usable email")
        verified = user.get("email_verified")
        return IdentityProfile(
            alias=Identity.workos(user_id),
            email=str(email_address),
            first_name=_optional_text(user, "first_name", 256),
            last_name=_optional_text(user, "last_name", 256),
            identity=identity,
            identity_lookup_failed=identity_lookup_failed,
            email_verified=verified if isinstance(verified, bool) else None,
        )

    def _call(
        self,
        method: str,
        route: str,
        path: str,
        deadline: float,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        # ``route`` names the call in log lines: never a user id.
        answer = self._http.request(
            method,
            self._base_url + path,
            service=SERVICE,
            route=route,
            deadline=deadline,
            retry=method == "GET",
            json=body,
            headers={"Authorization": f"Bearer {self._api_key}"},
        )
        if answer.status >= 300:
            raise self._error(method, route, answer)
        where, request_id = f"WorkOS {method} {route}", _request_id(answer.headers)
        parsed, data = decode_json(answer.body)
        if not parsed:
            logger.warning("%s answered non-JSON: request_id=%s", where, request_id)
            raise IdPError("WorkOS answered a body that is not JSON")
        logger.debug("%s: status=%s request_id=%s", where, answer.status, request_id)
        return data

    def _error(self, method: str, route: str, answer: HttpAnswer) -> AuthError:
        status, retry_after = answer.status, answer.retry_after
        body = decode_json(answer.body)[1]
        if not isinstance(body, dict):
            body = {}
        # Both shapes: {error, error_description} and {code, message}. The
        # descriptions are never kept: WorkOS quotes the code in them.
        code = _safe_code(body.get("error")) or _safe_code(body.get("code"))
        # Our key or client refused, or lacking a permission: that lasts until
        # someone fixes the configuration.
        misconfigured = (
            status == 401
            or (status == 403 and route != "authenticate")
            or (status == 400 and code == "invalid_client")
        )
        logger.log(
            logging.ERROR if misconfigured else logging.WARNING,
            "WorkOS %s %s answered %s: code=%s request_id=%s",
            method,
            route,
            status,
            code or "-",
            _request_id(answer.headers),
        )
        if status == 429:
            return IdPUnavailable(
                "WorkOS rate limit exceeded",
                retry_after=1 if retry_after is None else retry_after,
            )
        if status == 400 and code == "invalid_grant":
            return LoginFailed(
                "WorkOS refused the code (expired, reused or PKCE mismatch)"
            )
        if status == 403 and (
            code in AUTH_FLOW_CODES or "pending_authentication_token" in body
        ):
            return LoginStepRequired(
                f"WorkOS requires another login step: {code or 'unknown'}", step=code
            )
        return IdPError(
            f"WorkOS answered {status} ({code or 'no code'})",
            retry_after=retry_after if status >= 500 else None,
        )


def _argument_user_id(value: str) -> str:
    if isinstance(value, str) and _USER_ID.fullmatch(value):
        return value
    raise InvalidRequest("not a WorkOS user id")


def choose_identity(data: Any) -> Identity | None:
    """The raw identity from a WorkOS identities answer (a bare JSON array).

    DESIGN.md "Normalization": prefer ``type == "OAuth"``, then the smallest
    normalized ``(provider, idp_id)``, so a user's stored identity does not
    depend on how they signed in this time. Identities whose provider
    normalizes to one of our own namespaces (``workos``, ``local``) are
    ignored: they would name another account. None when nothing is left.

    Raises:
        IdPError: the answer is not an array of ``{idp_id, type, provider}``.
    """
    if not isinstance(data, list):
        raise IdPError("WorkOS answered the identities lookup with a wrong shape")
    candidates: list[tuple[bool, str, str]] = []
    for entry in data:
        if not isinstance(entry, dict):
            raise IdPError("WorkOS answered an identity of the wrong shape")
        idp_id, provider = entry.get("idp_id"), entry.get("provider")
        if not _is_text(idp_id, 255) or idp_id != str(idp_id).strip():
            raise IdPError("WorkOS answered an identity without a usable idp_id")
        name = normalize_provider(str(provider)) if _is_text(provider, 64) else ""
        if not _PROVIDER.fullmatch(name):
            raise IdPError("WorkOS answered an identity without a usable provider")
        if name in RESERVED_PROVIDERS:
            continue
        candidates.append((entry.get("type") != "OAuth", name, str(idp_id)))
    if not candidates:
        return None
    _, name, idp_id = min(candidates)
    return Identity(name, idp_id)
