"""What the OAuth 2.0 adapters (OpenID Connect, GitHub, WorkOS) share.

Safe text, the login's redirect URI, JSON answers and the mapping of an
endpoint's error answer onto the domain's errors. A shared technical helper,
not an adapter: it implements no port. Nothing from an answer reaches a log
line or a message but its status and an error code that looks like an
identifier (descriptions may quote the code or a token).
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus

from ..domain.errors import (
    AuthError,
    IdPError,
    IdPUnavailable,
    LoginFailed,
    NotConfigured,
)
from .bounded_http import BoundedHttpClient, HttpAnswer, decode_json

logger = logging.getLogger("wikibot_auth.oauth")

# Control characters and lone surrogates: no store or log line can take them.
_UNSAFE_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_SAFE_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# RFC 6749 §5.2: the client itself is refused; that lasts until someone fixes
# the configuration, so it is logged as an ERROR.
MISCONFIGURED_CODES = frozenset(
    {
        "invalid_client",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "redirect_uri_mismatch",
        "incorrect_client_credentials",
    }
)


def is_text(value: object, limit: int) -> bool:
    """A non-empty string of at most ``limit`` characters that any store and
    log line can take."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= limit
        and not _UNSAFE_TEXT.search(value)
    )


def optional_text(
    data: Mapping[str, Any], key: str, service: str, limit: int = 256
) -> str | None:
    """``data[key]`` stripped, None when absent, null or blank.

    Raises:
        IdPError: the value is there but unusable (not text, too long).
    """
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not is_text(value, limit):
        raise IdPError(f"{service} answered an unusable {key}")
    return str(value).strip()


def safe_code(value: object) -> str | None:
    """An error code fit for a log line, else None."""
    if isinstance(value, str) and _SAFE_CODE.fullmatch(value):
        return value
    return None


def redirect_uri_of(given: str | None, configured: str | None, service: str) -> str:
    """The redirect URI of a login: the one it names, else the adapter's own.

    Raises:
        NotConfigured: neither is known.
    """
    redirect = given or configured
    if not redirect:
        raise NotConfigured(f"the {service} IdP needs a redirect URI")
    return redirect


def basic_credentials(client_id: str, client_secret: str) -> str:
    """The ``Authorization`` value of ``client_secret_basic``: RFC 6749 §2.3.1
    form-encodes both parts before joining them."""
    pair = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def json_body(answer: HttpAnswer, service: str, route: str) -> Any:
    """The decoded JSON of a successful answer.

    Raises:
        IdPError: the body is not JSON.
    """
    parsed, data = decode_json(answer.body)
    if not parsed:
        logger.warning(
            "%s %s answered non-JSON: status=%s", service, route, answer.status
        )
        raise IdPError(f"{service} answered a body that is not JSON")
    return data


def fetch_json(
    http: BoundedHttpClient, method: str, url: str, service: str, **options: Any
) -> Any:
    """``http.request`` (``route``, ``deadline`` and the rest in ``options``)
    and the JSON of its 200 answer.

    Raises:
        IdPUnavailable: the endpoint could not be reached in time, or 429.
        IdPError: any other answer, or a body that is not JSON.
        LoginFailed: the endpoint refused the code (``invalid_grant``).
    """
    route: str = options["route"]
    answer = http.request(method, url, service=service, **options)
    if answer.status != 200:
        raise answer_error(service, route, answer)
    return json_body(answer, service, route)


def error_code(answer: HttpAnswer) -> str | None:
    """The identifier-like ``error`` of an OAuth error answer, if any."""
    body = decode_json(answer.body)[1]
    return safe_code(body.get("error")) if isinstance(body, dict) else None


def oauth_error(
    service: str,
    route: str,
    status: int,
    code: str | None,
    retry_after: int | None = None,
    *,
    refused_codes: frozenset[str] = frozenset({"invalid_grant"}),
) -> AuthError:
    """The domain error for an OAuth endpoint's refusal (RFC 6749 §5.2):
    a 429 is ``IdPUnavailable``; a code in ``refused_codes`` (the code was
    expired, reused, or its PKCE verifier did not match) is ``LoginFailed``;
    anything else is ``IdPError`` (a 5xx keeps its ``Retry-After``)."""
    misconfigured = status in (401, 403) or code in MISCONFIGURED_CODES
    logger.log(
        logging.ERROR if misconfigured else logging.WARNING,
        "%s %s answered %s: code=%s",
        service,
        route,
        status,
        code or "-",
    )
    if status == 429:
        return IdPUnavailable(
            f"{service} rate limit exceeded",
            retry_after=1 if retry_after is None else retry_after,
        )
    if code in refused_codes:
        return LoginFailed(
            f"{service} refused the code (expired, reused or PKCE mismatch)"
        )
    return IdPError(
        f"{service} answered {status} ({code or 'no code'})",
        retry_after=retry_after if status >= 500 else None,
    )


def answer_error(service: str, route: str, answer: HttpAnswer) -> AuthError:
    """``oauth_error`` for an error answer as it came."""
    return oauth_error(
        service, route, answer.status, error_code(answer), answer.retry_after
    )
