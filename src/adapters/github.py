"""The ``IdentityProvider`` port over a GitHub OAuth app.

OAuth 2.0, not OpenID Connect. Authorize with PKCE S256 and ``state``; exchange
the code with ``Accept: application/json`` (GitHub answers exchange errors as
HTTP 200 with an ``error`` field); then ``GET /user`` (the subject is its
numeric ``id`` as a decimal string, what WorkOS records as ``idp_id``) and
``GET /user/emails`` (scope ``user:email``: the primary verified address). Base
URLs are configurable for GitHub Enterprise Server and tests. Nothing secret
(client secret, code, verifier, access token) reaches a log line or an
exception.
"""

from __future__ import annotations

import logging
import re
import time
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
    AuthorizationRequest,
    Identity,
    IdentityProfile,
    LoginCallback,
)
from .bounded_http import (
    MAX_RETRY_AFTER,
    BoundedHttpClient,
    HttpAnswer,
    is_safe_url,
    parse_retry_after,
)
from .oauth_client import (
    answer_error,
    fetch_json,
    is_text,
    json_body,
    oauth_error,
    optional_text,
    redirect_uri_of,
    safe_code,
)

logger = logging.getLogger("wikibot_auth.github")

DEFAULT_URL = "https://github.com"
DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SCOPES = ("user:email",)
SERVICE = "GitHub"
API_VERSION = "2022-11-28"
# Exchange errors (GitHub's "Troubleshooting OAuth app access token request
# errors"): a code that is wrong, expired, spent or whose verifier does not
# match is the login's failure; the rest are ours.
REFUSED_CODES = frozenset({"bad_verification_code", "invalid_grant"})
MAX_GITHUB_ID = 2**53
_PROVIDER_NAME = re.compile(r"[a-z0-9_\-]{1,64}")


class GitHubIdentityProvider:
    """A GitHub OAuth app as an ``IdentityProvider``; its identity is
    ``(name, <numeric user id>)``, ``name`` being ``github`` unless the
    settings call it otherwise.

    ``http`` is the shared ``BoundedHttpClient``; ``budget`` (default: the
    client's) bounds one operation with all its requests.
    """

    def __init__(
        self,
        http: BoundedHttpClient,
        *,
        client_id: str,
        client_secret: str,
        name: str = "github",
        base_url: str = DEFAULT_URL,
        api_url: str = DEFAULT_API_URL,
        redirect_uri: str | None = None,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        budget: float | None = None,
    ) -> None:
        if not client_id or not client_secret:
            raise NotConfigured("the GitHub IdP needs a client id and a client secret")
        if not _PROVIDER_NAME.fullmatch(name):
            raise NotConfigured("a provider name must match [a-z0-9_-]{1,64}")
        self._base_url = (base_url or DEFAULT_URL).rstrip("/")
        self._api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        if not (is_safe_url(self._base_url) and is_safe_url(self._api_url)):
            raise NotConfigured(
                "the GitHub URLs must be https (plain http only on a loopback "
                "host): the client secret and tokens travel with every request"
            )
        self._http = http
        self._client_id = client_id
        self._client_secret = client_secret
        self._name = name
        self._redirect_uri = redirect_uri
        self._scopes = scopes
        self._budget = budget

    def __repr__(self) -> str:
        return f"GitHubIdentityProvider(base_url={self._base_url!r})"

    # -- the port ---------------------------------------------------------

    def authorization_url(self, request: AuthorizationRequest) -> str:
        redirect = redirect_uri_of(request.redirect_uri, self._redirect_uri, SERVICE)
        login_hint = request.login_hint
        if login_hint and not is_text(login_hint, 320):
            raise InvalidRequest("login_hint must be a GitHub login or an email")
        params = {
            "client_id": self._client_id,
            "redirect_uri": redirect,
            "scope": " ".join(self._scopes),
            "state": request.state,
            "code_challenge": request.code_challenge,
            "code_challenge_method": "S256",
        }
        if login_hint:
            params["login"] = login_hint  # "suggests a specific account"
        return f"{self._base_url}/login/oauth/authorize?{urlencode(params)}"

    def exchange_code(self, callback: LoginCallback) -> IdentityProfile:
        deadline = self._http.deadline(self._budget)
        token = self._exchange(callback, deadline)
        user = self._api("user", "/user", token, deadline)
        if not isinstance(user, dict):
            raise IdPError("GitHub answered the user lookup with a wrong shape")
        user_id = user.get("id")
        if (
            not isinstance(user_id, int)
            or isinstance(user_id, bool)
            or not 0 < user_id < MAX_GITHUB_ID
        ):
            raise IdPError("GitHub answered a user without a usable id")
        login = optional_text(user, "login", SERVICE, 64)
        name = optional_text(user, "name", SERVICE) or login
        emails = self._api("emails", "/user/emails?per_page=100", token, deadline)
        email = primary_verified_email(emails)
        return IdentityProfile(
            alias=Identity(self._name, str(user_id)),
            email=email or "",
            first_name=name,
            email_verified=True if email else None,
        )

    # -- helpers ------------------------------------------------------------

    def _exchange(self, callback: LoginCallback, deadline: float) -> str:
        redirect = callback.redirect_uri or self._redirect_uri
        form = {
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "code": callback.code,
            "code_verifier": callback.code_verifier,
        }
        if redirect:
            form["redirect_uri"] = redirect
        data = fetch_json(
            self._http,
            "POST",
            f"{self._base_url}/login/oauth/access_token",
            service=SERVICE,
            route="token",
            deadline=deadline,
            data=form,
            headers={"Accept": "application/json"},
        )
        if not isinstance(data, dict):
            raise IdPError("GitHub answered the code exchange with a wrong shape")
        if "error" in data:
            raise _exchange_error(safe_code(data.get("error")))
        token = data.get("access_token")
        if not is_text(token, 4096):
            raise IdPError("GitHub answered the code exchange without a token")
        return str(token)

    def _api(self, route: str, path: str, token: str, deadline: float) -> Any:
        answer = self._http.request(
            "GET",
            self._api_url + path,
            service=SERVICE,
            route=route,
            deadline=deadline,
            retry=True,
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {token}",
                "X-GitHub-Api-Version": API_VERSION,
            },
        )
        if answer.status != 200:
            raise _api_error(route, answer)
        return json_body(answer, SERVICE, route)


def primary_verified_email(data: Any) -> str | None:
    """The primary address of a ``GET /user/emails`` answer, when verified.

    Raises:
        IdPError: the answer is not a list of ``{email, primary, verified}``.
    """
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise IdPError("GitHub answered the emails lookup with a wrong shape")
    for entry in data:
        if entry.get("primary") is True and entry.get("verified") is True:
            return optional_text(entry, "email", SERVICE, 320)
    return None


def _exchange_error(code: str | None) -> AuthError:
    if code == "unverified_user_email":
        logger.warning("GitHub token answered 200: code=%s", code)
        return LoginStepRequired(
            "GitHub needs the user to verify their primary email first",
            step="email_verification",
        )
    error = oauth_error(SERVICE, "token", 200, code, refused_codes=REFUSED_CODES)
    if isinstance(error, LoginFailed):
        return error
    return IdPError(f"GitHub refused the code exchange ({code or 'no code'})")


def _api_error(route: str, answer: HttpAnswer) -> AuthError:
    # GitHub's rate limits are a 403 or 429 whose remaining count is 0
    # (primary) or that says when to retry (secondary).
    headers = answer.headers
    retry_after = parse_retry_after(headers.get("retry-after"), time.time())
    limited = headers.get("x-ratelimit-remaining") == "0" or retry_after is not None
    if answer.status in (403, 429) and limited:
        logger.warning("GitHub %s rate limit exceeded", route)
        reset = headers.get("x-ratelimit-reset", "")
        if retry_after is None and reset.isascii() and reset.isdigit():
            retry_after = min(max(int(reset) - int(time.time()), 1), MAX_RETRY_AFTER)
        return IdPUnavailable(
            "GitHub rate limit exceeded", retry_after=retry_after or 60
        )
    return answer_error(SERVICE, route, answer)
