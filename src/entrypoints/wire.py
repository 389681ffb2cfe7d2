"""The one table from domain error codes to HTTP answers and CLI exit codes.

Every entrypoint (ASGI, Lambda, CLI) answers errors through this module. The
body is ``{"error": <code>, "error_description": <fixed sentence>}``: exception
text goes to logs only, never to a client.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import attrs

from ..domain.errors import AuthError, DependencyError

REALM = 'Bearer realm="wikibot.io"'
_INVALID_TOKEN = REALM + ', error="invalid_token"'

# CLI exit codes
EXIT_OK = 0
EXIT_REJECTED = 1  # the credentials or the login were refused (a 4xx)
EXIT_USAGE = 2  # usage or configuration error
EXIT_UNAVAILABLE = 3  # a dependency (IdP, user store, KMS) is down (a 5xx)
EXIT_INTERNAL = 4  # unexpected error


@attrs.frozen
class WireError:
    status: int
    description: str
    www_authenticate: str | None = None
    exit_code: int = EXIT_REJECTED
    retry_after: int | None = None


ERRORS: Mapping[str, WireError] = {
    "missing_token": WireError(401, "Authentication is required.", REALM),
    "invalid_request": WireError(
        400,
        "The request is malformed.",
        REALM + ', error="invalid_request"',
    ),
    "invalid_token": WireError(401, "The access token is invalid.", _INVALID_TOKEN),
    "token_expired": WireError(401, "The access token has expired.", _INVALID_TOKEN),
    "token_revoked": WireError(
        401, "The access token has been revoked.", _INVALID_TOKEN
    ),
    "unknown_user": WireError(
        401, "The access token names an unknown user.", _INVALID_TOKEN
    ),
    "user_disabled": WireError(403, "The user account is disabled."),
    "csrf_rejected": WireError(
        403, "Cookie-authenticated request without a matching Origin."
    ),
    "invalid_callback": WireError(400, "The login callback is invalid or has expired."),
    "login_failed": WireError(400, "The identity provider did not complete the login."),
    "login_step_required": WireError(
        403, "The identity provider requires another step to complete the login."
    ),
    "idp_error": WireError(
        502, "The identity provider answered with an error.", exit_code=EXIT_UNAVAILABLE
    ),
    "idp_unavailable": WireError(
        503,
        "The identity provider is unavailable; try again later.",
        exit_code=EXIT_UNAVAILABLE,
        retry_after=5,
    ),
    "store_unavailable": WireError(
        503,
        "The user store is unavailable; try again later.",
        exit_code=EXIT_UNAVAILABLE,
        retry_after=1,
    ),
    "signer_unavailable": WireError(
        503,
        "The signing service is unavailable; try again later.",
        exit_code=EXIT_UNAVAILABLE,
        retry_after=1,
    ),
    "operation_refused": WireError(
        409, "The operation conflicts with the stored users and was refused."
    ),
    "not_configured": WireError(
        500,
        "The authentication service is not configured for this.",
        exit_code=EXIT_USAGE,
    ),
    "internal_error": WireError(500, "Internal error.", exit_code=EXIT_INTERNAL),
}


@attrs.frozen
class ErrorAnswer:
    """An error as an HTTP answer: status, headers and a JSON body."""

    code: str
    status: int
    headers: Mapping[str, str]
    body: bytes


def _code(error: AuthError | str) -> str:
    code = error if isinstance(error, str) else error.code
    return code if code in ERRORS else "internal_error"


def wire_error(error: AuthError | str) -> WireError:
    """The table row for a domain error or code (unknown codes: internal_error)."""
    return ERRORS[_code(error)]


def error_answer(error: AuthError | str) -> ErrorAnswer:
    """The HTTP answer for a domain error (or a bare code)."""
    code = _code(error)
    entry = ERRORS[code]
    headers = {
        "content-type": "application/json",
        "cache-control": "no-store",
    }
    if entry.www_authenticate:
        headers["www-authenticate"] = entry.www_authenticate
    retry_after = entry.retry_after
    if isinstance(error, DependencyError) and error.retry_after is not None:
        retry_after = error.retry_after
    if retry_after is not None and entry.status == 503:
        headers["retry-after"] = str(max(0, int(retry_after)))
    body = json.dumps(
        {"error": code, "error_description": entry.description}, separators=(",", ":")
    ).encode("utf-8")
    return ErrorAnswer(code=code, status=entry.status, headers=headers, body=body)


def exit_code(error: AuthError | str) -> int:
    return wire_error(error).exit_code
