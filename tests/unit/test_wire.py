from __future__ import annotations

import json

import pytest

from wikibot_auth.domain.errors import (
    AuthError,
    IdPUnavailable,
    InvalidToken,
    SignerUnavailable,
    StoreUnavailable,
)
from wikibot_auth.entrypoints.wire import ERRORS, error_answer, exit_code


def _concrete_errors(root: type[AuthError]) -> list[type[AuthError]]:
    """Every AuthError subclass that declares its own code (the grouping
    classes CredentialsError, LoginError and DependencyError inherit one)."""
    found = []
    for cls in root.__subclasses__():
        if "code" in vars(cls):
            found.append(cls)
        found.extend(_concrete_errors(cls))
    return found


ALL_ERRORS = _concrete_errors(AuthError)


def test_every_domain_error_code_has_a_wire_entry():
    codes = [e.code for e in ALL_ERRORS]
    assert len(codes) == len(set(codes)), "two errors share a code"
    assert set(codes) == set(ERRORS)


def test_a_new_error_without_a_row_would_fail():
    class Invented(AuthError):
        code = "invented"

    try:
        assert {e.code for e in _concrete_errors(AuthError)} != set(ERRORS)
    finally:
        del Invented


@pytest.mark.parametrize("error", ALL_ERRORS, ids=lambda e: e.code)
def test_json_error_format(error):
    answer = error_answer(error("secret-ish detail sk_test_123"))
    body = json.loads(answer.body)
    assert body == {
        "error": error.code,
        "error_description": ERRORS[error.code].description,
    }
    assert "sk_test_123" not in answer.body.decode()
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("code", "status", "challenge"),
    [
        ("missing_token", 401, 'Bearer realm="wikibot.io"'),
        ("invalid_request", 400, 'Bearer realm="wikibot.io", error="invalid_request"'),
        ("invalid_token", 401, 'Bearer realm="wikibot.io", error="invalid_token"'),
        ("token_expired", 401, 'Bearer realm="wikibot.io", error="invalid_token"'),
        ("token_revoked", 401, 'Bearer realm="wikibot.io", error="invalid_token"'),
        ("unknown_user", 401, 'Bearer realm="wikibot.io", error="invalid_token"'),
        ("user_disabled", 403, None),
        ("csrf_rejected", 403, None),
        ("invalid_callback", 400, None),
        ("login_failed", 400, None),
        ("login_step_required", 403, None),
        ("idp_error", 502, None),
        ("idp_unavailable", 503, None),
        ("store_unavailable", 503, None),
        ("signer_unavailable", 503, None),
        ("not_configured", 500, None),
        ("internal_error", 500, None),
    ],
)
def test_error_table(code, status, challenge):
    answer = error_answer(code)
    assert answer.status == status
    assert answer.headers.get("www-authenticate") == challenge


def test_retry_after_is_passed_on():
    assert error_answer(IdPUnavailable(retry_after=7)).headers["retry-after"] == "7"
    assert "retry-after" in error_answer(StoreUnavailable()).headers


def test_signer_unavailable_is_a_503_with_retry_after():
    answer = error_answer(SignerUnavailable("KMS ThrottlingException on arn:..."))
    assert (answer.status, answer.headers["retry-after"]) == (503, "1")
    assert json.loads(answer.body)["error"] == "signer_unavailable"
    assert b"arn:" not in answer.body
    assert exit_code("signer_unavailable") == 3


def test_unknown_code_is_internal_error():
    assert error_answer("no_such_code").status == 500


def test_exit_codes():
    assert exit_code(InvalidToken()) == 1
    assert exit_code("not_configured") == 2
    assert exit_code("store_unavailable") == 3
    assert exit_code("internal_error") == 4
