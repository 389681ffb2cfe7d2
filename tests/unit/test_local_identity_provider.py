from __future__ import annotations

import pytest

from wikibot_auth.adapters.local_idp import MAX_PENDING_CODES, LocalIdentityProvider
from wikibot_auth.domain.errors import InvalidRequest, LoginFailed
from wikibot_auth.domain.model import AuthorizationRequest, Identity, LoginCallback
from wikibot_auth.domain.pkce import code_challenge_s256, new_code_verifier


@pytest.fixture
def local(clock):
    return LocalIdentityProvider(clock)


def test_code_exchange_yields_the_local_identity(local):
    verifier = new_code_verifier()
    code = local.issue_code(" Ada@Example.com ", "Ada L", code_challenge_s256(verifier))
    profile = local.exchange_code(LoginCallback(code, verifier))
    assert profile.alias == Identity("local", "ada@example.com")
    assert (profile.email, profile.display_name) == ("Ada@Example.com", "Ada L")


def test_codes_are_single_use(local):
    verifier = new_code_verifier()
    code = local.issue_code("a@b.c", "", code_challenge_s256(verifier))
    local.exchange_code(LoginCallback(code, verifier))
    with pytest.raises(LoginFailed):
        local.exchange_code(LoginCallback(code, verifier))


def test_wrong_verifier_is_refused_and_burns_the_code(local):
    verifier = new_code_verifier()
    code = local.issue_code("a@b.c", "", code_challenge_s256(verifier))
    with pytest.raises(LoginFailed):
        local.exchange_code(LoginCallback(code, new_code_verifier()))
    with pytest.raises(LoginFailed):
        local.exchange_code(LoginCallback(code, verifier))


def test_codes_expire(local, clock):
    verifier = new_code_verifier()
    code = local.issue_code("a@b.c", "", code_challenge_s256(verifier))
    clock.advance(300)
    with pytest.raises(LoginFailed):
        local.exchange_code(LoginCallback(code, verifier))


@pytest.mark.parametrize(
    ("email", "name", "challenge"),
    [
        ("not-an-email", "", "x" * 43),
        ("a@b.c", "n" * 201, "x" * 43),
        ("a@b.c", "", "short"),
    ],
)
def test_malformed_sign_in_is_invalid_request(local, email, name, challenge):
    with pytest.raises(InvalidRequest):
        local.issue_code(email, name, challenge)


def test_authorization_url_points_at_the_sign_in_page(local):
    url = local.authorization_url(
        AuthorizationRequest(
            state="s1", code_challenge="c" * 43, redirect_uri="http://127.0.0.1/cb"
        )
    )
    assert url.startswith("/auth/local/sign-in?")
    assert "state=s1" in url


def test_a_flood_of_codes_evicts_the_oldest_and_never_locks_anyone_out(local):
    first = new_code_verifier()
    oldest = local.issue_code("a@b.c", "", code_challenge_s256(first))
    challenge = code_challenge_s256(new_code_verifier())
    for _ in range(MAX_PENDING_CODES):
        local.issue_code("flood@b.c", "", challenge)
    verifier = new_code_verifier()
    code = local.issue_code("ada@b.c", "", code_challenge_s256(verifier))
    assert local.exchange_code(LoginCallback(code, verifier)).email == "ada@b.c"
    assert local.pending_codes() <= MAX_PENDING_CODES
    with pytest.raises(LoginFailed):
        local.exchange_code(LoginCallback(oldest, first))
