"""The ``IdentityProvider`` port over WorkOS User Management, with httpx.

No WorkOS SDK: four calls (authorize URL, code exchange, identities, user),
each failure translated into the domain's error family. The code exchange is
single-use and never retried; the two reads retry a little. Nothing secret
(API key, code, verifier, WorkOS tokens, WorkOS's error descriptions, which
may quote the code) reaches a log line or an exception message.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from ..domain.errors import (
    AuthError,
    IdPError,
    IdPUnavailable,
    InvalidRequest,
    LoginFailed,
    LoginStepRequired,
    NotConfigured,
)
from ..domain.model import Identity, IdentityProfile, normalize_provider

logger = logging.getLogger("wikibot_auth.workos")

DEFAULT_BASE_URL = "https://api.workos.com"
SCREEN_HINTS = ("sign-in", "sign-up")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 3600
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


def http_client(timeout: float) -> Iterator[httpx.Client]:
    """The one reused httpx client (a container ``Resource``), closed on
    ``shutdown_resources()``."""
    client = httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        headers={"User-Agent": "wikibot-auth"},
    )
    try:
        yield client
    finally:
        client.close()


def parse_retry_after(value: str | None, now: float) -> int | None:
    """``Retry-After`` as whole seconds from now: delta-seconds or HTTP-date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = int(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = math.ceil(when.timestamp() - now)
    return min(max(seconds, 0), MAX_RETRY_AFTER)


def _safe_base_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _segment(value: str) -> str:
    # quote() keeps "." unreserved; "%2E" keeps "." and ".." segments inert.
    return quote(value, safe="").replace(".", "%2E")


def _safe_code(value: object) -> str | None:
    if isinstance(value, str) and _SAFE_CODE.fullmatch(value):
        return value
    return None


def _request_id(response: httpx.Response | None) -> str:
    if response is None:
        return "-"
    value = response.headers.get("x-request-id", "")
    return value if _SAFE_REQUEST_ID.fullmatch(value) else "-"


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise IdPError(f"WorkOS answered a non-string {key}")
    return value


class WorkOSIdentityProvider:
    """WorkOS User Management as an ``IdentityProvider``.

    ``client`` is a shared ``httpx.Client`` whose timeout bounds every request;
    ``api_key`` is sent as the Bearer token and as ``client_secret``.
    """

    def __init__(
        self,
        client: httpx.Client,
        *,
        api_key: str,
        client_id: str,
        base_url: str = DEFAULT_BASE_URL,
        redirect_uri: str | None = None,
        provider: str | None = "authkit",
        connection_id: str | None = None,
        organization_id: str | None = None,
        max_retries: int = 1,
        backoff: float = 0.2,
        max_retry_wait: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not api_key or not client_id:
            raise NotConfigured(
                "the WorkOS IdP needs WORKOS_API_KEY and WORKOS_CLIENT_ID"
            )
        if not (provider or connection_id or organization_id):
            raise NotConfigured(
                "the WorkOS IdP needs a provider, connection_id or organization_id"
            )
        self._client = client
        self._api_key = api_key
        self._client_id = client_id
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        if not _safe_base_url(self._base_url):
            raise NotConfigured(
                "WORKOS_BASE_URL must be an https URL (plain http only on a "
                "loopback host): the API key travels with every request"
            )
        self._redirect_uri = redirect_uri
        self._provider = provider
        self._connection_id = connection_id
        self._organization_id = organization_id
        self._max_retries = max_retries
        self._backoff = backoff
        self._max_retry_wait = max_retry_wait
        self._sleep = sleep
        self._now = now

    def __repr__(self) -> str:
        return f"WorkOSIdentityProvider(base_url={self._base_url!r})"

    # -- the port ---------------------------------------------------------

    def authorization_url(
        self,
        *,
        state: str,
        code_challenge: str,
        redirect_uri: str | None = None,
        login_hint: str | None = None,
        screen_hint: str | None = None,
    ) -> str:
        redirect = redirect_uri or self._redirect_uri
        if not redirect:
            raise NotConfigured("the WorkOS IdP needs WIKIBOT_AUTH_REDIRECT_URI")
        if screen_hint is not None and screen_hint not in SCREEN_HINTS:
            raise InvalidRequest("screen_hint must be sign-in or sign-up")
        params: dict[str, str] = {
            "client_id": self._client_id,
            "redirect_uri": redirect,
            "response_type": "code",
        }
        if self._connection_id:
            params["connection_id"] = self._connection_id
        elif self._organization_id:
            params["organization_id"] = self._organization_id
        elif self._provider:
            params["provider"] = self._provider
        params.update(
            state=state, code_challenge=code_challenge, code_challenge_method="S256"
        )
        if login_hint:
            params["login_hint"] = login_hint
        if screen_hint and params.get("provider") == "authkit":
            params["screen_hint"] = screen_hint
        return f"{self._base_url}/user_management/authorize?{urlencode(params)}"

    def exchange_code(self, code: str, code_verifier: str) -> IdentityProfile:
        body = {
            "grant_type": "authorization_code",
            "client_id": self._client_id,
            "client_secret": self._api_key,
            "code": code,
            "code_verifier": code_verifier,
        }
        data = self._call("POST", "/user_management/authenticate", json=body)
        if not isinstance(data, dict) or not isinstance(data.get("user"), dict):
            raise IdPError("WorkOS answered the code exchange with a wrong shape")
        user: dict[str, Any] = data["user"]
        user_id = user.get("id")
        if not isinstance(user_id, str) or not user_id:
            raise IdPError("WorkOS answered a user without an id")
        if not isinstance(user.get("email"), str) or not user["email"]:
            user = self._user(user_id)
        method = _optional_str(data, "authentication_method")
        identity, failed = self._lookup_identity(user_id, method)
        return self._profile(
            user,
            identity=identity,
            identity_lookup_failed=failed,
            authentication_method=method,
            organization_id=_optional_str(data, "organization_id"),
        )

    # -- the original WorkOSClient's other calls ----------------------------

    def get_user_profile(self, user_id: str) -> IdentityProfile:
        """The WorkOS user's profile, without the raw identity.

        Raises:
            IdPError, IdPUnavailable
        """
        return self._profile(self._user(user_id))

    def get_provider_sub(
        self, user_id: str, authentication_method: str | None = None
    ) -> Identity | None:
        """The normalized raw ``(provider, idp_id)`` identity, or None when
        WorkOS lists none.

        Raises:
            IdPError: the answer had the wrong shape or an error status.
            IdPUnavailable: WorkOS could not be reached in time.
        """
        data = self._call(
            "GET", f"/user_management/users/{_segment(user_id)}/identities"
        )
        return choose_identity(data, authentication_method)

    # -- helpers ------------------------------------------------------------

    def _user(self, user_id: str) -> dict[str, Any]:
        data = self._call("GET", f"/user_management/users/{_segment(user_id)}")
        if not isinstance(data, dict) or data.get("id") != user_id:
            raise IdPError("WorkOS answered the user lookup with a wrong shape")
        return data

    def _lookup_identity(
        self, user_id: str, method: str | None
    ) -> tuple[Identity | None, bool]:
        try:
            return self.get_provider_sub(user_id, method), False
        except (IdPError, IdPUnavailable) as exc:
            logger.warning(
                "WorkOS identities lookup failed: code=%s; the WorkOS alias stands in",
                exc.code,
            )
            return None, True

    def _profile(
        self,
        user: Mapping[str, Any],
        *,
        identity: Identity | None = None,
        identity_lookup_failed: bool = False,
        authentication_method: str | None = None,
        organization_id: str | None = None,
    ) -> IdentityProfile:
        user_id = user.get("id")
        email_address = user.get("email")
        if not isinstance(user_id, str) or not user_id:
            raise IdPError("WorkOS answered a user without an id")
        if not isinstance(email_address, str) or not email_address:
            raise IdPError("WorkOS answered a user without an email")
        verified = user.get("email_verified")
        return IdentityProfile(
            alias=Identity.workos(user_id),
            email=email_address,
            first_name=_optional_str(user, "first_name"),
            last_name=_optional_str(user, "last_name"),
            identity=identity,
            identity_lookup_failed=identity_lookup_failed,
            email_verified=verified if isinstance(verified, bool) else None,
            profile_picture_url=_optional_str(user, "profile_picture_url"),
            organization_id=organization_id,
            authentication_method=authentication_method,
        )

    def _call(
        self, method: str, path: str, *, json: Mapping[str, Any] | None = None
    ) -> Any:
        route = _route_name(path, method)
        retries = self._max_retries if method == "GET" else 0
        attempt = 0
        while True:
            try:
                response = self._send(method, path, json, route)
            except IdPUnavailable:
                if attempt >= retries:
                    raise
                wait = self._backoff_for(attempt)
            else:
                if response.status_code not in RETRY_STATUSES or attempt >= retries:
                    return self._decode(method, route, response)
                retry_after = parse_retry_after(
                    response.headers.get("retry-after"), self._now()
                )
                if retry_after is not None and retry_after > self._max_retry_wait:
                    return self._decode(method, route, response)
                wait = max(float(retry_after or 0), self._backoff_for(attempt))
                logger.info(
                    "WorkOS %s %s answered %s; retrying: request_id=%s",
                    method,
                    route,
                    response.status_code,
                    _request_id(response),
                )
            attempt += 1
            self._sleep(wait)

    def _backoff_for(self, attempt: int) -> float:
        return min(self._backoff * 2.0**attempt, self._max_retry_wait)

    def _send(
        self, method: str, path: str, body: Mapping[str, Any] | None, route: str
    ) -> httpx.Response:
        try:
            return self._client.request(
                method,
                self._base_url + path,
                json=body,
                headers={"Authorization": f"Bearer {self._api_key}"},
            )
        except httpx.TimeoutException as exc:
            logger.warning("WorkOS %s %s timed out", method, route)
            raise IdPUnavailable("WorkOS did not answer in time") from exc
        except httpx.TransportError as exc:
            logger.warning("WorkOS %s %s failed: %s", method, route, type(exc).__name__)
            raise IdPUnavailable("WorkOS could not be reached") from exc

    def _decode(self, method: str, route: str, response: httpx.Response) -> Any:
        status = response.status_code
        request_id = _request_id(response)
        if status >= 300:
            raise self._error(method, route, response, request_id)
        logger.debug(
            "WorkOS %s %s: status=%s request_id=%s", method, route, status, request_id
        )
        try:
            return response.json()
        except ValueError as exc:
            logger.warning(
                "WorkOS %s %s answered non-JSON: request_id=%s",
                method,
                route,
                request_id,
            )
            raise IdPError("WorkOS answered a body that is not JSON") from exc

    def _error(
        self, method: str, route: str, response: httpx.Response, request_id: str
    ) -> AuthError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {}
        # Both shapes: {error, error_description} and {code, message}. The
        # descriptions are never kept: WorkOS quotes the code in them.
        code = _safe_code(body.get("error")) or _safe_code(body.get("code"))
        logger.warning(
            "WorkOS %s %s answered %s: code=%s request_id=%s",
            method,
            route,
            status,
            code or "-",
            request_id,
        )
        retry_after = parse_retry_after(
            response.headers.get("retry-after"), self._now()
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


def _route_name(path: str, method: str) -> str:
    # Never a user id or anything the caller controls in a log line.
    if method == "POST":
        return "authenticate"
    return "identities" if path.endswith("/identities") else "user"


def choose_identity(data: Any, authentication_method: str | None) -> Identity | None:
    """The raw identity from a WorkOS identities answer (a bare JSON array).

    Preference: the identity whose normalized provider matches the normalized
    ``authentication_method``, then ``type == "OAuth"``, then the smallest
    normalized ``(provider, idp_id)``. An empty array gives None.

    Raises:
        IdPError: the answer is not an array of ``{idp_id, type, provider}``.
    """
    if not isinstance(data, list):
        raise IdPError("WorkOS answered the identities lookup with a wrong shape")
    candidates: list[tuple[bool, bool, str, str]] = []
    method = (
        normalize_provider(authentication_method) if authentication_method else None
    )
    for entry in data:
        if not isinstance(entry, dict):
            raise IdPError("WorkOS answered an identity of the wrong shape")
        idp_id, provider, kind = (
            entry.get("idp_id"),
            entry.get("provider"),
            entry.get("type"),
        )
        if not (isinstance(idp_id, str) and idp_id.strip()):
            raise IdPError("WorkOS answered an identity without an idp_id")
        if not (isinstance(provider, str) and normalize_provider(provider)):
            raise IdPError("WorkOS answered an identity without a provider")
        name = normalize_provider(provider)
        candidates.append((name != method, kind != "OAuth", name, idp_id))
    if not candidates:
        return None
    best = min(candidates)
    return Identity(best[2], best[3])
