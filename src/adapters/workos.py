"""The ``IdentityProvider`` port over WorkOS User Management, with httpx.

No WorkOS SDK: four calls (authorize URL, code exchange, identities, user),
each failure translated into the domain's error family. The code exchange is
single-use and never retried; the two reads retry a little. Every request is
bounded as a whole (connect, send, headers and body) by the IdP timeout, its body
by ``MAX_BODY_BYTES``, and one operation with its retries by a shared budget.
Nothing secret (API key, code, verifier, WorkOS tokens, WorkOS's error
descriptions, which may quote the code) reaches a log line, an exception message
or an exception's ``__cause__``/``__context__``.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import attrs
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
from ..domain.model import (
    LOCAL_PROVIDER,
    WORKOS_PROVIDER,
    Identity,
    IdentityProfile,
    normalize_provider,
)

logger = logging.getLogger("wikibot_auth.workos")

DEFAULT_BASE_URL = "https://api.workos.com"
DEFAULT_TIMEOUT = 5.0
# One operation (a whole code exchange with its reads and retries) stays well
# under API Gateway's 29 s integration limit whatever the timeout.
MAX_BUDGET = 20.0
MAX_BODY_BYTES = 1 << 20
SCREEN_HINTS = ("sign-in", "sign-up")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 3600
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
_DELTA_SECONDS = re.compile(r"[0-9]{1,10}")
# Control characters and lone surrogates: no store or log line can take them.
_UNSAFE_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


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
    """``Retry-After`` as whole seconds from now: delta-seconds (ASCII digits,
    at most ten) or an HTTP-date; anything else is None."""
    if value is None:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        seconds = int(value)
    elif len(value) <= 64:
        try:
            when = email.utils.parsedate_to_datetime(value)
            if when.tzinfo is None:
                return None
            seconds = math.ceil(when.timestamp() - now)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    else:
        return None
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


def _request_id(headers: httpx.Headers) -> str:
    value = headers.get("x-request-id", "")
    return value if _SAFE_REQUEST_ID.fullmatch(value) else "-"


def _json_body(body: bytes) -> tuple[bool, Any]:
    # Neither the decoder's error (its ``doc`` holds the body, which may hold
    # WorkOS tokens) nor a RecursionError from a deeply nested body escapes.
    try:
        return True, json.loads(body)
    except (ValueError, RecursionError):
        return False, None


def _route_name(path: str, method: str) -> str:
    # Never a user id or anything the caller controls in a log line.
    if method == "POST":
        return "authenticate"
    return "identities" if path.endswith("/identities") else "user"


class _TooLarge(Exception):
    pass


class _TooLate(Exception):
    pass


@attrs.frozen
class _Answer:
    status: int
    headers: httpx.Headers
    body: bytes


class WorkOSIdentityProvider:
    """WorkOS User Management as an ``IdentityProvider``.

    ``client`` is a shared ``httpx.Client``. ``timeout`` (default: the client's
    largest timeout) bounds each request as a whole; ``budget`` (default twice
    the timeout, at most ``MAX_BUDGET``) bounds one operation with all its
    requests, retries and waits. ``api_key`` is sent as the Bearer token and as
    ``client_secret``.
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
        timeout: float | None = None,
        budget: float | None = None,
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
        if timeout is None:
            steps = client.timeout.as_dict().values()
            timeout = max((t for t in steps if t is not None), default=DEFAULT_TIMEOUT)
        self._timeout = timeout
        self._budget = min(2.0 * timeout, MAX_BUDGET) if budget is None else budget
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
        if login_hint and not _is_text(login_hint, 320):
            raise InvalidRequest("login_hint must be an email address")
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
        deadline = self._deadline()
        body = {
            "grant_type": "authorization_code",
            "client_id": self._client_id,
            "client_secret": self._api_key,
            "code": code,
            "code_verifier": code_verifier,
        }
        data = self._call("POST", "/user_management/authenticate", deadline, body)
        if not isinstance(data, dict) or not isinstance(data.get("user"), dict):
            raise IdPError("WorkOS answered the code exchange with a wrong shape")
        user: dict[str, Any] = data["user"]
        user_id = _workos_user_id(user.get("id"))
        method = _optional_text(data, "authentication_method", 64)
        organization_id = _optional_text(data, "organization_id", 64)
        if not _is_text(user.get("email"), 320):
            user = self._user(user_id, deadline)
        identity, failed = self._lookup_identity(user_id, deadline)
        return self._profile(
            user_id,
            user,
            identity=identity,
            identity_lookup_failed=failed,
            authentication_method=method,
            organization_id=organization_id,
        )

    # -- the original WorkOSClient's other calls ----------------------------

    def get_user_profile(self, user_id: str) -> IdentityProfile:
        """The WorkOS user's profile, without the raw identity.

        Raises:
            InvalidRequest: ``user_id`` is not a WorkOS user id.
            IdPError, IdPUnavailable
        """
        user_id = _argument_user_id(user_id)
        return self._profile(user_id, self._user(user_id, self._deadline()))

    def get_provider_sub(self, user_id: str) -> Identity | None:
        """The normalized raw ``(provider, idp_id)`` identity, or None when
        WorkOS lists none (see ``choose_identity``).

        Raises:
            InvalidRequest: ``user_id`` is not a WorkOS user id.
            IdPError: the answer had the wrong shape or an error status.
            IdPUnavailable: WorkOS could not be reached in time.
        """
        user_id = _argument_user_id(user_id)
        return self._identities(user_id, self._deadline())

    # -- helpers ------------------------------------------------------------

    def _deadline(self) -> float:
        return time.monotonic() + self._budget

    def _user(self, user_id: str, deadline: float) -> dict[str, Any]:
        data = self._call("GET", f"/user_management/users/{user_id}", deadline)
        if not isinstance(data, dict) or data.get("id") != user_id:
            raise IdPError("WorkOS answered the user lookup with a wrong shape")
        return data

    def _identities(self, user_id: str, deadline: float) -> Identity | None:
        path = f"/user_management/users/{user_id}/identities"
        return choose_identity(self._call("GET", path, deadline))

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
        authentication_method: str | None = None,
        organization_id: str | None = None,
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
            profile_picture_url=_optional_text(user, "profile_picture_url"),
            organization_id=organization_id,
            authentication_method=authentication_method,
        )

    def _call(
        self,
        method: str,
        path: str,
        deadline: float,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        route = _route_name(path, method)
        retries = self._max_retries if method == "GET" else 0
        attempt = 0
        while True:
            failure: AuthError
            try:
                answer = self._fetch(method, route, path, body, deadline)
            except IdPUnavailable as exc:
                failure, wait = exc, self._backoff_for(attempt)
            else:
                if answer.status < 300:
                    return self._decode(method, route, answer)
                retry_after = None
                if answer.status in RETRY_STATUSES:
                    retry_after = parse_retry_after(
                        answer.headers.get("retry-after"), self._now()
                    )
                failure = self._error(method, route, answer, retry_after)
                if answer.status not in RETRY_STATUSES or (
                    retry_after is not None and retry_after > self._max_retry_wait
                ):
                    raise failure
                wait = max(float(retry_after or 0), self._backoff_for(attempt))
            if attempt >= retries or time.monotonic() + wait >= deadline:
                raise failure
            logger.info("WorkOS %s %s failed; retrying", method, route)
            attempt += 1
            self._sleep(wait)

    def _backoff_for(self, attempt: int) -> float:
        return min(self._backoff * 2.0**attempt, self._max_retry_wait)

    def _fetch(
        self,
        method: str,
        route: str,
        path: str,
        body: Mapping[str, Any] | None,
        deadline: float,
    ) -> _Answer:
        # httpx bounds each connect/read/write step, not a request: the request
        # runs in a worker and this thread stops waiting at the deadline. What
        # the worker raised is classified here and never chained: httpx errors
        # carry the request (API key, code, verifier) and the response.
        deadline = min(time.monotonic() + self._timeout, deadline)
        outcome: list[_Answer | Exception] = []
        done = threading.Event()

        def work() -> None:
            try:
                outcome.append(self._exchange(method, path, body, deadline))
            except Exception as exc:
                outcome.append(exc)
            finally:
                done.set()

        try:
            threading.Thread(
                target=work, name="wikibot-auth-workos", daemon=True
            ).start()
            started = True
        except RuntimeError:  # no thread can be started (process at its limit)
            started = False
        if not started:  # raised outside the handler: no chained context
            raise IdPUnavailable("cannot start a request thread", retry_after=1)
        if not done.wait(max(deadline - time.monotonic(), 0.0)):
            result: _Answer | Exception = _TooLate()
        else:
            result = outcome.pop()
        if isinstance(result, _Answer):
            return result
        error = _translate(result, method, route)
        del result
        raise error

    def _exchange(
        self, method: str, path: str, body: Mapping[str, Any] | None, deadline: float
    ) -> _Answer:
        step = max(deadline - time.monotonic(), 0.001)
        request = self._client.build_request(
            method,
            self._base_url + path,
            json=body,
            headers={"Authorization": f"Bearer {self._api_key}"},
            timeout=step,
        )
        response = self._client.send(request, stream=True, follow_redirects=False)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isascii() and declared.isdigit():
                if int(declared) > MAX_BODY_BYTES:
                    raise _TooLarge
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise _TooLarge
                if time.monotonic() > deadline:
                    raise _TooLate
                chunks.append(chunk)
        finally:
            response.close()
        return _Answer(response.status_code, response.headers, b"".join(chunks))

    def _decode(self, method: str, route: str, answer: _Answer) -> Any:
        request_id = _request_id(answer.headers)
        logger.debug(
            "WorkOS %s %s: status=%s request_id=%s",
            method,
            route,
            answer.status,
            request_id,
        )
        parsed, data = _json_body(answer.body)
        if not parsed:
            logger.warning(
                "WorkOS %s %s answered non-JSON: request_id=%s",
                method,
                route,
                request_id,
            )
            raise IdPError("WorkOS answered a body that is not JSON")
        return data

    def _error(
        self, method: str, route: str, answer: _Answer, retry_after: int | None
    ) -> AuthError:
        status = answer.status
        body = _json_body(answer.body)[1]
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


def _translate(exc: Exception, method: str, route: str) -> AuthError:
    if isinstance(exc, (_TooLate, httpx.TimeoutException)):
        logger.warning("WorkOS %s %s timed out", method, route)
        return IdPUnavailable("WorkOS did not answer in time")
    if isinstance(exc, (_TooLarge, httpx.DecodingError)):
        logger.warning("WorkOS %s %s answered an unreadable body", method, route)
        return IdPError("WorkOS answered a body that could not be read")
    if isinstance(exc, httpx.TransportError):
        logger.warning("WorkOS %s %s failed: %s", method, route, type(exc).__name__)
        return IdPUnavailable("WorkOS could not be reached")
    # InvalidURL, a closed client (RuntimeError), anything else: after the
    # code is spent it must still be a domain error.
    logger.error(
        "WorkOS %s %s could not be sent: %s", method, route, type(exc).__name__
    )
    return IdPError("the request to WorkOS could not be sent")


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
