"""What the WorkOS adapters share: WorkOS User Management, called and mapped.

The login (``WorkOSIdentityProvider``) and the account directory
(``WorkOSIdentityDirectory``) both call WorkOS with the API key as the Bearer
token, through the shared ``BoundedHttpClient`` (which bounds each request and
each operation, caps bodies and retries reads only), and both read a user's
identities. This module holds that one call, the mapping of WorkOS's error
answers onto the domain's error family, and the choice of the raw identity. A
shared technical helper, not an adapter: it implements no port. Nothing secret
(API key, code, verifier, WorkOS tokens, WorkOS's error descriptions, which may
quote the code) reaches a log line or an exception.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, TypeGuard

from ..domain.errors import (
    AuthError,
    IdPError,
    IdPUnavailable,
    LoginFailed,
    LoginStepRequired,
    NotConfigured,
)
from ..domain.model import LOCAL_PROVIDER, WORKOS_PROVIDER, Identity, normalize_provider
from .bounded_http import BoundedHttpClient, HttpAnswer, decode_json, is_safe_url
from .oauth_client import is_text, safe_code

logger = logging.getLogger("wikibot_auth.workos")

DEFAULT_BASE_URL = "https://api.workos.com"
SERVICE = "WorkOS"
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
# Only identifier-like request ids from a response are ever logged.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
# WorkOS user ids (``user_01E4...``): nothing else is ever put in a URL path.
_USER_ID = re.compile(r"[A-Za-z0-9_]{1,64}")
_PROVIDER = re.compile(r"[a-z0-9_\-]{1,64}")


class WorkOSApi:
    """WorkOS's User Management API over the shared ``BoundedHttpClient``.

    ``api_key`` is sent as the Bearer token of every call. ``budget`` (default:
    the client's, twice its timeout) bounds one operation with all its
    requests, retries and waits.

    Raises:
        NotConfigured: no ``api_key``, or a ``base_url`` that is neither https
            nor http on a loopback host (the API key travels with every
            request).
    """

    def __init__(
        self,
        http: BoundedHttpClient,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        budget: float | None = None,
    ) -> None:
        if not api_key:
            raise NotConfigured("WorkOS needs WORKOS_API_KEY")
        self._http = http
        self._api_key = api_key
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        if not is_safe_url(self.base_url):
            raise NotConfigured(
                "WORKOS_BASE_URL must be an https URL (plain http only on a "
                "loopback host): the API key travels with every request"
            )
        self._budget = budget

    def deadline(self) -> float:
        """When one operation, with all its requests, must be over."""
        return self._http.deadline(self._budget)

    def call(
        self,
        method: str,
        route: str,
        path: str,
        deadline: float,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """The JSON of WorkOS's successful answer; reads (GET) are retried.

        ``route`` names the call in log lines: never a user id.

        Raises:
            LoginFailed: WorkOS refused the code (``invalid_grant``).
            LoginStepRequired: WorkOS needs another login step.
            IdPError: an error answer, or a body that is not JSON.
            IdPUnavailable: WorkOS could not be reached in time, or 429.
        """
        answer = self._http.request(
            method,
            self.base_url + path,
            service=SERVICE,
            route=route,
            deadline=deadline,
            retry=method == "GET",
            json=body,
            headers={"Authorization": f"Bearer {self._api_key}"},
        )
        if answer.status >= 300:
            raise error_of(method, route, answer)
        where, request_id = f"WorkOS {method} {route}", _request_id(answer.headers)
        parsed, data = decode_json(answer.body)
        if not parsed:
            logger.warning("%s answered non-JSON: request_id=%s", where, request_id)
            raise IdPError("WorkOS answered a body that is not JSON")
        logger.debug("%s: status=%s request_id=%s", where, answer.status, request_id)
        return data

    def user(self, user_id: str, deadline: float) -> dict[str, Any]:
        """The WorkOS user ``user_id`` (an ``is_user_id``), as WorkOS answered it.

        Raises:
            IdPError, IdPUnavailable
        """
        path = f"/user_management/users/{user_id}"
        data = self.call("GET", "user", path, deadline)
        if not isinstance(data, dict) or data.get("id") != user_id:
            raise IdPError("WorkOS answered the user lookup with a wrong shape")
        return data

    def identity(self, user_id: str, deadline: float) -> Identity | None:
        """The raw identity of the WorkOS user ``user_id`` (an ``is_user_id``),
        or None when WorkOS lists none (see ``choose_identity``).

        Raises:
            IdPError, IdPUnavailable
        """
        path = f"/user_management/users/{user_id}/identities"
        return choose_identity(self.call("GET", "identities", path, deadline))


def error_of(method: str, route: str, answer: HttpAnswer) -> AuthError:
    """The domain error for WorkOS's error answer, logged with its code and
    request id only."""
    status, retry_after = answer.status, answer.retry_after
    body = decode_json(answer.body)[1]
    if not isinstance(body, dict):
        body = {}
    # Both shapes: {error, error_description} and {code, message}. The
    # descriptions are never kept: WorkOS quotes the code in them.
    code = safe_code(body.get("error")) or safe_code(body.get("code"))
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
        return LoginFailed("WorkOS refused the code (expired, reused or PKCE mismatch)")
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


def _request_id(headers: Mapping[str, str]) -> str:
    value = headers.get("x-request-id", "")
    return value if _SAFE_REQUEST_ID.fullmatch(value) else "-"


def optional_text(data: Mapping[str, Any], key: str, limit: int = 2048) -> str | None:
    """``data[key]`` as WorkOS answered it; None when absent, null or empty.

    Raises:
        IdPError: the value is there but unusable (not text, too long).
    """
    value = data.get(key)
    if value is None or value == "":
        return None
    if not is_text(value, limit):
        raise IdPError(f"WorkOS answered an unusable {key}")
    return str(value)


def is_user_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a WorkOS user id (``user_01E4...``): nothing else
    is ever put in a URL path."""
    return isinstance(value, str) and _USER_ID.fullmatch(value) is not None


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
        if not is_text(idp_id, 255) or idp_id != str(idp_id).strip():
            raise IdPError("WorkOS answered an identity without a usable idp_id")
        name = normalize_provider(str(provider)) if is_text(provider, 64) else ""
        if not _PROVIDER.fullmatch(name):
            raise IdPError("WorkOS answered an identity without a usable provider")
        if name in RESERVED_PROVIDERS:
            continue
        candidates.append((entry.get("type") != "OAuth", name, str(idp_id)))
    if not candidates:
        return None
    _, name, idp_id = min(candidates)
    return Identity(name, idp_id)
