"""Every audit event of DESIGN's table, once, with its fields, on its path."""

from __future__ import annotations

import logging

import pytest

from tests.conftest import GOOGLE, workos_profile
from wikibot_auth.domain.errors import LoginFailed, TokenRevoked
from wikibot_auth.domain.use_cases import SetUserDisabled

pytestmark = pytest.mark.usefixtures("audit_log")


@pytest.fixture
def audit_log(caplog):
    caplog.set_level(logging.DEBUG, logger="wikibot_auth")
    return caplog


def events(caplog, name):
    return [r for r in caplog.records if r.getMessage() == name]


def fields(record, *names):
    return {name: getattr(record, name) for name in names}


def test_a_new_users_login(login, caplog):
    result = login(workos_profile())
    (event,) = events(caplog, "login.succeeded")
    assert fields(event, "user_id", "user_created", "linked") == {
        "user_id": result.user.user_id,
        "user_created": True,
        "linked": [],
    }
    assert events(caplog, "identity.linked") == []


def test_an_existing_users_login_that_links_its_raw_identity(login, caplog):
    first = login(workos_profile(identity=None))  # the identities call found none
    caplog.clear()
    login(workos_profile())  # now WorkOS names the Google identity
    (linked,) = events(caplog, "identity.linked")
    assert fields(linked, "user_id", "provider", "by") == {
        "user_id": first.user.user_id,
        "provider": GOOGLE.provider,
        "by": "login",
    }
    (event,) = events(caplog, "login.succeeded")
    assert (event.user_created, event.linked) == (False, ["google"])


def test_a_failed_login(login, caplog):
    with pytest.raises(LoginFailed):
        login(LoginFailed("refused"))
    (event,) = events(caplog, "login.failed")
    assert fields(event, "code", "provider") == {
        "code": "login_failed",
        "provider": None,
    }
    assert events(caplog, "login.succeeded") == []


def test_sign_out_disable_and_enable(login, sign_out, repo, clock, caplog):
    user_id = login(workos_profile()).user.user_id
    sign_out(user_id)
    SetUserDisabled(repo, clock)(user_id, True)
    SetUserDisabled(repo, clock)(user_id, False)
    signed_out = events(caplog, "user.signed_out")
    assert [e.token_generation for e in signed_out] == [1, 2]  # disabling signs out
    assert [e.user_id for e in events(caplog, "user.disabled")] == [user_id]
    assert [e.user_id for e in events(caplog, "user.enabled")] == [user_id]


def test_a_rejected_token_names_its_hash_never_the_token(
    login, sign_out, authenticate, caplog
):
    result = login(workos_profile())
    sign_out(result.user.user_id)
    with pytest.raises(TokenRevoked):
        authenticate(f"Bearer {result.token}")
    (event,) = events(caplog, "token.rejected")
    assert event.levelno == logging.DEBUG
    assert event.code == "token_revoked"
    assert len(event.token_sha256_8) == 8
    assert result.token not in caplog.text
