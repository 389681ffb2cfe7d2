"""Sign-out everywhere: a counter, not a clock (DESIGN "Users and identities")."""

from __future__ import annotations

import pytest

from tests.conftest import NOW, workos_profile
from wikibot_auth.domain.errors import TokenRevoked, UnknownUser
from wikibot_auth.domain.use_cases import SetUserDisabled


def test_login_right_after_sign_out_works(login, authenticate, sign_out):
    first = login(workos_profile())
    sign_out(first.user.user_id)
    second = login(workos_profile())
    assert authenticate(f"Bearer {second.token}").user_id == first.user.user_id


def test_many_sign_outs_in_one_second_never_lock_the_user_out(
    login, authenticate, sign_out
):
    # Under the clock rule, 40 sign-outs pushed the revocation time 40 s ahead:
    # every login then got a token issued "in the future" and refused.
    first = login(workos_profile())
    for _ in range(40):
        sign_out(first.user.user_id)
    after = login(workos_profile())
    assert authenticate(f"Bearer {after.token}").user_id == first.user.user_id
    with pytest.raises(TokenRevoked):
        authenticate(f"Bearer {first.token}")


def test_sign_out_counts_and_records_when(login, sign_out, clock):
    result = login(workos_profile())
    clock.set(NOW + 10.7)
    user = sign_out(result.user.user_id)
    assert (user.token_generation, user.tokens_valid_after) == (1, int(NOW) + 10)
    assert sign_out(result.user.user_id).token_generation == 2


@pytest.mark.parametrize(
    ("login_at", "sign_out_at"),
    [
        pytest.param(NOW, NOW, id="minted-in-the-same-second"),
        # this machine's clock is an hour behind the login's
        pytest.param(NOW, NOW - 3600, id="clock-stepped-back"),
        # within the leeway: the token is accepted later
        pytest.param(NOW + 20, NOW, id="clock-ran-ahead-at-the-login"),
    ],
)
def test_a_sign_out_revokes_the_token_whatever_the_clocks_said(
    login, authenticate, sign_out, clock, login_at, sign_out_at
):
    clock.set(login_at)
    result = login(workos_profile())
    clock.set(sign_out_at)
    sign_out(result.user.user_id)
    clock.set(NOW)
    with pytest.raises(TokenRevoked):
        authenticate(f"Bearer {result.token}")


def test_second_sign_out_revokes_a_login_between_them(login, authenticate, sign_out):
    first = login(workos_profile())
    sign_out(first.user.user_id)
    between = login(workos_profile())
    assert authenticate(f"Bearer {between.token}")
    sign_out(first.user.user_id)
    with pytest.raises(TokenRevoked):
        authenticate(f"Bearer {between.token}")
    after = login(workos_profile())
    assert authenticate(f"Bearer {after.token}").user_id == first.user.user_id


def test_sign_out_of_unknown_user_is_unknown_user(sign_out, repo):
    with pytest.raises(UnknownUser):
        sign_out("usr_missing")
    assert repo.raw_item("usr_missing") is None


def test_sign_out_leaves_other_users_alone(login, authenticate, sign_out):
    ada = login(workos_profile())
    bob = login(workos_profile("user_02", "bob@example.com", identity=None))
    sign_out(ada.user.user_id)
    assert authenticate(f"Bearer {bob.token}").email == "bob@example.com"


def test_an_unreadable_tokens_valid_after_is_read_as_absent(
    login, authenticate, sign_out, repo, clock
):
    result = login(workos_profile())
    item = repo.raw_item(result.user.user_id)
    repo.put_raw_item({**item, "tokens_valid_after": "abc"})  # a hand edit gone wrong
    assert authenticate(f"Bearer {result.token}").user_id == result.user.user_id
    clock.set(NOW + 5)
    assert sign_out(result.user.user_id).tokens_valid_after == int(NOW) + 5
    with pytest.raises(TokenRevoked):
        authenticate(f"Bearer {result.token}")


def test_disabling_a_user_also_signs_them_out(login, repo, clock):
    result = login(workos_profile())
    item = repo.raw_item(result.user.user_id)
    repo.put_raw_item({**item, "tokens_valid_after": ["not", "a", "number"]})
    user = SetUserDisabled(repo, clock)(result.user.user_id, True)
    assert user.disabled
    assert user.token_generation == 1
