from __future__ import annotations

import pytest

from tests.conftest import NOW, workos_profile
from wikibot_auth.domain.errors import TokenRevoked, UnknownUser


def test_token_minted_in_the_same_second_is_revoked(
    login, authenticate, sign_out, clock
):
    clock.set(NOW)  # T
    result = login(workos_profile())
    clock.set(NOW + 0.5)
    sign_out(result.user.user_id)
    with pytest.raises(TokenRevoked):
        authenticate(f"Bearer {result.token}")


def test_login_right_after_sign_out_works(login, authenticate, sign_out, clock):
    first = login(workos_profile())
    clock.set(NOW + 0.5)
    sign_out(first.user.user_id)
    second = login(workos_profile())
    assert authenticate(f"Bearer {second.token}").user_id == first.user.user_id


def test_sign_out_sets_the_next_whole_second(login, sign_out, repo, clock):
    result = login(workos_profile())
    clock.set(NOW + 10.7)
    assert sign_out(result.user.user_id).tokens_valid_after == int(NOW) + 11


def test_sign_out_never_lowers_tokens_valid_after(login, sign_out, clock):
    result = login(workos_profile())
    clock.set(NOW + 100)
    sign_out(result.user.user_id)
    clock.set(NOW + 50)  # the clock stepped back: still strictly after the last one
    assert sign_out(result.user.user_id).tokens_valid_after == int(NOW) + 102


def test_second_sign_out_in_a_second_revokes_a_login_between_them(
    login, authenticate, sign_out, clock
):
    first = login(workos_profile())
    clock.set(NOW + 0.1)
    sign_out(first.user.user_id)
    clock.set(NOW + 0.2)
    between = login(workos_profile())
    assert authenticate(f"Bearer {between.token}")
    clock.set(NOW + 0.3)
    sign_out(first.user.user_id)
    with pytest.raises(TokenRevoked):
        authenticate(f"Bearer {between.token}")
    clock.set(NOW + 0.4)
    after = login(workos_profile())
    assert authenticate(f"Bearer {after.token}").user_id == first.user.user_id


def test_sign_out_of_unknown_user_is_unknown_user(sign_out):
    with pytest.raises(UnknownUser):
        sign_out("usr_missing")


def test_sign_out_leaves_other_users_alone(login, authenticate, sign_out):
    ada = login(workos_profile())
    bob = login(workos_profile("user_02", "bob@example.com", identity=None))
    sign_out(ada.user.user_id)
    assert authenticate(f"Bearer {bob.token}").email == "bob@example.com"


def test_an_unreadable_tokens_valid_after_is_refused_then_repaired_by_sign_out(
    login, authenticate, sign_out, repo, clock
):
    from wikibot_auth.domain.errors import InternalError

    result = login(workos_profile())
    item = repo.raw_item(result.user.user_id)
    repo.put_raw_item({**item, "tokens_valid_after": "abc"})  # a hand edit gone wrong
    with pytest.raises(InternalError):  # refused, never guessed at
        authenticate(f"Bearer {result.token}")
    clock.set(NOW + 5)
    assert sign_out(result.user.user_id).tokens_valid_after == int(NOW) + 6
    with pytest.raises(TokenRevoked):
        authenticate(f"Bearer {result.token}")


def test_disabling_a_user_with_an_unreadable_record_works(login, repo, clock):
    from wikibot_auth.domain.use_cases import SetUserDisabled

    result = login(workos_profile())
    item = repo.raw_item(result.user.user_id)
    repo.put_raw_item({**item, "tokens_valid_after": ["not", "a", "number"]})
    user = SetUserDisabled(repo, clock)(result.user.user_id, True)
    assert user.disabled
    assert user.tokens_valid_after == int(NOW) + 1
