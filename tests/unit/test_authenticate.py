from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import workos_profile
from tests.strategies import header_values
from wikibot_auth.adapters.rs256 import KeyRing, RS256TokenSigner
from wikibot_auth.domain.errors import (
    AuthError,
    InvalidRequest,
    InvalidToken,
    MissingToken,
    TokenExpired,
    TokenRevoked,
    UnknownUser,
    UserDisabled,
)


def test_valid_token_authenticates_the_user(login, authenticate):
    result = login(workos_profile())
    user = authenticate(f"Bearer {result.token}")
    assert user.user_id == result.user.user_id
    assert (user.email, user.display_name, user.tier) == (
        "ada@example.com",
        "Ada Lovelace",
        "free",
    )
    assert user.record.oauth_provider == "google"


@pytest.mark.parametrize("header", [None, ""])
def test_missing_or_empty_header_is_missing_token(authenticate, header):
    with pytest.raises(MissingToken):
        authenticate(header)


def test_bad_header_is_invalid_request(authenticate):
    with pytest.raises(InvalidRequest):
        authenticate("Bearer not a token")


def test_invalid_token_is_rejected(authenticate):
    with pytest.raises(InvalidToken):
        authenticate("Bearer abc.def.ghi")


def test_expired_token_is_rejected(login, authenticate, clock):
    result = login(workos_profile())
    clock.advance(86400 + 30)
    with pytest.raises(TokenExpired):
        authenticate(f"Bearer {result.token}")


def test_token_for_unknown_user_is_rejected(signer, authenticate):
    with pytest.raises(UnknownUser):
        authenticate("Bearer " + signer.create_token("usr_nobody"))


def test_token_signed_by_another_key_is_rejected(login, authenticate, other_key, clock):
    result = login(workos_profile())
    foreign = RS256TokenSigner(KeyRing.build(other_key), clock)
    with pytest.raises(InvalidToken):
        authenticate("Bearer " + foreign.create_token(result.user.user_id))


def test_disabled_user_cannot_authenticate(login, authenticate, repo):
    result = login(workos_profile())
    repo.set_disabled(result.user.user_id, True)
    with pytest.raises(UserDisabled):
        authenticate(f"Bearer {result.token}")


def test_token_issued_before_sign_out_is_revoked(login, authenticate, sign_out):
    result = login(workos_profile())
    sign_out(result.user.user_id)
    with pytest.raises(TokenRevoked):
        authenticate(f"Bearer {result.token}")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=header_values)
def test_any_header_authenticates_or_raises_an_auth_error(authenticate, header):
    try:
        authenticate(header)
    except AuthError:
        return
    pytest.fail("a random header authenticated")


def test_the_steps_agree_with_the_whole(login, authenticate, repo):
    result = login(workos_profile())
    claims = authenticate.verify(f"Bearer {result.token}")
    assert authenticate.user_for(claims) == authenticate(f"Bearer {result.token}")
    assert authenticate.cached_user_for(claims) == authenticate.user_for(claims)
    repo.set_disabled(result.user.user_id, True)
    with pytest.raises(UserDisabled):
        authenticate.cached_user_for(claims)


def test_rejections_are_logged_by_hash_prefix_only(
    login, authenticate, sign_out, caplog
):
    import logging

    result = login(workos_profile())
    sign_out(result.user.user_id)
    with (
        caplog.at_level(logging.DEBUG, logger="wikibot_auth"),
        pytest.raises(TokenRevoked),
    ):
        authenticate(f"Bearer {result.token}")
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "token_revoked" in text
    for part in result.token.split("."):
        assert part not in text
