"""One contract suite for the ``UserRepository`` port, over every store:
in-memory, SQLite (a temporary file), DynamoDB on moto and on dynalite. Each
store's own rules live in its own test file; the races in
``test_user_repository_races.py``."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import workos_profile
from tests.factories import make_user as _user
from tests.integration.store_helpers import RawAccess, login
from wikibot_auth.domain.errors import UnknownUser, UserDisabled
from wikibot_auth.domain.model import Identity

pytest_plugins = ["tests.integration.store_fixtures"]


# -- every port method


def test_create_then_get_and_find(store: Any) -> None:
    user = _user()
    google, alias = Identity("google", "g-1"), Identity.workos("user_01")
    assert store.create(user, [google, alias]) == (user, True)
    assert store.get("usr_1") == user
    assert store.find_by_identity(google) == user
    assert store.find_by_identity(alias) == user
    assert store.find_by_identity(Identity("github", "g-1")) is None
    assert store.get("usr_missing") is None


def test_an_identity_maps_to_one_user(
    store: Any,
    raw: RawAccess,
) -> None:
    google = Identity("google", "g-1")
    first = _user("usr_a")
    assert store.create(first, [google]) == (first, True)
    assert store.create(_user("usr_b"), [google]) == (first, False)
    # A later identity taken: the owner wins (DynamoDB also links the earlier
    # identity it had already claimed to that owner, see its module docstring).
    winner, created = store.create(_user("usr_c"), [Identity("x", "y"), google])
    assert (winner.user_id, created) == ("usr_a", False)
    assert store.get("usr_c") is None
    assert store.get("usr_b") is None
    assert raw.user_count() == 1


def test_create_needs_an_identity(store: Any) -> None:
    with pytest.raises(ValueError, match="identity"):
        store.create(_user(), [])


def test_link_identity_records_the_provider(store: Any) -> None:
    alias = Identity.workos("user_01")
    store.create(_user(oauth_provider="workos", oauth_provider_sub="user_01"), [alias])
    github = Identity("github", "42")
    linked = store.link_identity("usr_1", github)
    assert (linked.oauth_provider, linked.oauth_provider_sub) == ("github", "42")
    assert store.find_by_identity(github) == linked == store.get("usr_1")
    assert store.link_identity("usr_1", github) == linked  # idempotent


def test_linking_the_alias_as_secondary_keeps_the_provider(store: Any) -> None:
    google = Identity("google", "g-1")
    store.create(_user(oauth_provider="google", oauth_provider_sub="g-1"), [google])
    alias = Identity.workos("user_01")
    linked = store.link_identity("usr_1", alias, primary=False)
    assert (linked.oauth_provider, linked.oauth_provider_sub) == ("google", "g-1")
    assert linked.workos_user_id == "user_01"
    assert store.find_by_identity(alias) == linked == store.get("usr_1")


def test_linking_a_secondary_non_workos_identity_changes_no_attribute(
    store: Any,
) -> None:
    google = Identity("google", "g-1")
    created, _ = store.create(
        _user(oauth_provider="google", oauth_provider_sub="g-1"), [google]
    )
    linked = store.link_identity("usr_1", Identity("github", "7"), primary=False)
    assert linked == created
    assert store.find_by_identity(Identity("github", "7")) == created


def test_link_identity_taken_by_another_user_returns_that_user(store: Any) -> None:
    github = Identity("github", "42")
    other = _user("usr_other", oauth_provider="github", oauth_provider_sub="42")
    store.create(other, [github])
    store.create(_user("usr_1"), [Identity.workos("user_01")])
    assert store.link_identity("usr_1", github) == other
    assert store.get("usr_1") == _user("usr_1")


def test_update_profile_sets_only_the_changes(store: Any) -> None:
    store.create(_user(), [Identity("google", "g-1")])
    updated = store.update_profile("usr_1", {"display_name": "Ada King"})
    assert updated == _user(display_name="Ada King") == store.get("usr_1")
    updated = store.update_profile("usr_1", {"email": "ada@king.example"})
    assert updated.email == "ada@king.example"
    assert updated.display_name == "Ada King"
    with pytest.raises(ValueError, match="tier"):
        store.update_profile("usr_1", {"tier": "pro"})


def test_tokens_valid_after_never_goes_down(store: Any) -> None:
    store.create(_user(), [Identity("google", "g-1")])
    assert store.set_tokens_valid_after("usr_1", 1_700_000_100).tokens_valid_after == (
        1_700_000_100
    )
    assert store.set_tokens_valid_after("usr_1", 1_700_000_050).tokens_valid_after == (
        1_700_000_100
    )
    assert store.get("usr_1").tokens_valid_after == 1_700_000_100
    assert store.set_tokens_valid_after("usr_1", 1_700_000_200).tokens_valid_after == (
        1_700_000_200
    )


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("not-a-number", 1_800_000_000),
        ("", 1_800_000_000),
        ("1900000000", 1_900_000_000),  # read as a number: never lowered
        ("1700000000", 1_800_000_000),
    ],
)
def test_sign_out_overwrites_a_tokens_valid_after_stored_as_a_string(
    store: Any, raw: RawAccess, stored: str, expected: int
) -> None:
    """A console edit or a migration may leave a string: a sign-out must still
    take effect (DynamoDB's ``<`` never holds between a string and a number)."""
    raw.put({**_user().to_item(), "tokens_valid_after": stored})
    assert store.set_tokens_valid_after("usr_1", 1_800_000_000).tokens_valid_after == (
        expected
    )
    assert store.get("usr_1").tokens_valid_after == expected
    assert raw.item("usr_1")["tokens_valid_after"] == expected


def test_set_disabled_round_trips(store: Any) -> None:
    store.create(_user(), [Identity("google", "g-1")])
    assert store.set_disabled("usr_1", True).disabled is True
    assert store.get("usr_1").disabled is True
    assert store.set_disabled("usr_1", False).disabled is False
    assert store.get("usr_1").disabled is False


@pytest.mark.parametrize(
    "update",
    [
        lambda s: s.update_profile("usr_ghost", {"email": "x@example.com"}),
        lambda s: s.set_tokens_valid_after("usr_ghost", 5),
        lambda s: s.set_disabled("usr_ghost", True),
        lambda s: s.link_identity("usr_ghost", Identity("github", "1")),
    ],
    ids=["update_profile", "set_tokens_valid_after", "set_disabled", "link_identity"],
)
def test_updates_of_a_missing_user_raise_and_create_nothing(
    store: Any, raw: RawAccess, update: Callable[[Any], Any]
) -> None:
    with pytest.raises(UnknownUser):
        update(store)
    assert store.get("usr_ghost") is None
    assert raw.item("usr_ghost") is None
    assert store.find_by_identity(Identity("github", "1")) is None
    assert raw.user_count() == 0


def test_odd_values_round_trip_exactly(
    store: Any,
    raw: RawAccess,
) -> None:
    user = _user(
        email="zoë.ünïcødé+tag@例え.jp",
        display_name='O\'Brien "Bob" `x`; DROP TABLE users; -- ' + "ñ" * 10_000,
        tokens_valid_after=1_700_000_123,
    )
    store.create(user, [Identity("google", "sub'\"#with#hashes")])
    got = store.get("usr_1")
    assert got == user
    assert store.find_by_identity(Identity("google", "sub'\"#with#hashes")) == user
    stored = raw.item("usr_1")
    for name in ("created_at", "updated_at", "tokens_valid_after"):
        assert type(stored[name]) is int
        assert type(getattr(got, name)) is int
    assert not any(isinstance(v, Decimal) for v in stored.values())


LONG = Identity("google", "s" * 10_000 + "ü")


def test_a_long_subject_round_trips(
    store: Any,
    raw: RawAccess,
) -> None:
    """DynamoDB refuses hash keys over 2048 bytes: a 10 KB subject gets the
    digest key, and every store behaves the same."""
    first = login(store, workos_profile(identity=LONG))
    assert first.created
    again = login(store, workos_profile(identity=LONG))
    assert (again.user.user_id, again.created) == (first.user.user_id, False)
    assert store.find_by_identity(LONG) == again.user.record
    near = Identity("google", "s" * 10_000 + "u")
    assert store.find_by_identity(near) is None
    assert raw.user_count() == 1


# -- logins through the real use case, and no clobbering


def test_second_login_resolves_to_the_same_user(
    store: Any,
    raw: RawAccess,
) -> None:
    first = login(store, workos_profile())
    second = login(store, workos_profile())
    assert (first.created, second.created) == (True, False)
    assert first.user.user_id == second.user.user_id
    assert raw.user_count() == 1


def test_login_never_clobbers_what_it_does_not_own(
    store: Any,
    raw: RawAccess,
) -> None:
    user_id = login(store, workos_profile()).user.user_id
    item = raw.item(user_id)
    item.update(
        {"favourite_colour": "teal", "tier": "pro", "disabled": True, "notes": "vip"}
    )
    raw.put(item)
    with pytest.raises(UserDisabled):
        login(store, workos_profile(first_name="Augusta"))
    assert raw.item(user_id) == item  # a refused login wrote nothing

    item.update({"disabled": False, "tokens_valid_after": 1_700_000_500})
    raw.put(item)
    result = login(store, workos_profile(first_name="Augusta"))
    after = raw.item(user_id)
    assert result.user.display_name == "Augusta Lovelace"
    assert after == {**item, "display_name": "Augusta Lovelace"}


def test_alias_only_user_gets_the_raw_identity_linked(
    store: Any,
    raw: RawAccess,
) -> None:
    first = login(store, workos_profile(identity_lookup_failed=True))
    assert first.user.record.oauth_provider == "workos"
    second = login(store, workos_profile())
    assert second.user.user_id == first.user.user_id
    assert (
        second.user.record.oauth_provider,
        second.user.record.oauth_provider_sub,
    ) == (
        "google",
        "1234567890",
    )
    assert store.find_by_identity(Identity("google", "1234567890")) is not None
    assert raw.user_count() == 1
