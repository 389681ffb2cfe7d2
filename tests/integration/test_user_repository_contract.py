"""One contract suite for the ``UserRepository`` port, over every store:
in-memory, SQLite (a temporary file), DynamoDB on moto and on dynalite. Each
store's own rules live in its own test file; the races in
``test_user_repository_races.py``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest

from tests.conftest import workos_profile
from tests.factories import make_user as _user
from tests.integration.store_helpers import STORE_NOW, RawAccess, login
from wikibot_auth.adapters.memory import FixedClock
from wikibot_auth.domain.errors import InternalError, UnknownUser, UserDisabled
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


def test_linking_a_secondary_non_workos_identity_changes_only_updated_at(
    store: Any,
) -> None:
    google = Identity("google", "g-1")
    created, _ = store.create(
        _user(oauth_provider="google", oauth_provider_sub="g-1"), [google]
    )
    linked = store.link_identity("usr_1", Identity("github", "7"), primary=False)
    assert linked == attrs.evolve(created, updated_at=STORE_NOW)
    assert store.find_by_identity(Identity("github", "7")) == linked


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
    expected = _user(display_name="Ada King", updated_at=STORE_NOW)
    assert updated == expected == store.get("usr_1")
    updated = store.update_profile("usr_1", {"email": "ada@king.example"})
    assert updated.email == "ada@king.example"
    assert updated.display_name == "Ada King"
    with pytest.raises(ValueError, match="tier"):
        store.update_profile("usr_1", {"tier": "pro"})


def test_update_profile_without_changes_writes_nothing(
    store: Any, store_clock: FixedClock
) -> None:
    created, _ = store.create(_user(), [Identity("google", "g-1")])
    store_clock.advance(60)
    assert store.update_profile("usr_1", {}) == created == store.get("usr_1")
    with pytest.raises(UnknownUser):
        store.update_profile("usr_ghost", {})


# -- sign-out everywhere: the revocation counter


def test_revoke_tokens_adds_one_and_returns_the_new_record(store: Any) -> None:
    created, _ = store.create(_user(), [Identity("google", "g-1")])
    assert created.token_generation == 0
    first = store.revoke_tokens("usr_1", 1_800_000_000)
    assert first == attrs.evolve(
        created,
        token_generation=1,
        tokens_valid_after=1_800_000_000,
        updated_at=STORE_NOW,
    )
    assert store.get("usr_1") == first
    second = store.revoke_tokens("usr_1", 1_800_000_000)  # the same second
    assert second.token_generation == 2
    assert store.get("usr_1") == second


def test_revoke_tokens_counts_from_0_for_a_record_without_the_counter(
    store: Any, raw: RawAccess
) -> None:
    """Records written before the counter have no ``token_generation``."""
    item = _user().to_item()
    del item["token_generation"]
    raw.put(item)
    assert store.get("usr_1").token_generation == 0
    assert store.revoke_tokens("usr_1", 1_800_000_000).token_generation == 1
    assert raw.item("usr_1")["token_generation"] == 1


@pytest.mark.parametrize("stored", ["not-a-number", "", "1.5e9x"])
def test_a_tokens_valid_after_that_is_not_a_number_is_read_as_0_and_overwritten(
    store: Any, raw: RawAccess, stored: str
) -> None:
    """A console edit gone wrong: the record stays usable, and a sign-out
    writes the number back."""
    raw.put({**_user().to_item(), "tokens_valid_after": stored})
    assert store.get("usr_1").tokens_valid_after == 0
    revoked = store.revoke_tokens("usr_1", 1_800_000_000)
    assert (revoked.token_generation, revoked.tokens_valid_after) == (1, 1_800_000_000)
    assert raw.item("usr_1")["tokens_valid_after"] == 1_800_000_000


@pytest.mark.parametrize("stored", ["three", "", 1.5, -1, 2**53])
def test_a_token_generation_that_is_not_a_whole_number_in_range_is_refused(
    store: Any, raw: RawAccess, stored: Any
) -> None:
    """A hand edit gone wrong: guessing could revive revoked tokens, so the
    record is refused (internal_error), as an unreadable timestamp is."""
    raw.put({**_user().to_item(), "token_generation": stored})
    with pytest.raises(InternalError):
        store.get("usr_1")


@pytest.mark.parametrize("stored", ["three", -1, 2**53 - 1])
def test_a_sign_out_that_cannot_count_is_refused_and_writes_nothing(
    store: Any, raw: RawAccess, stored: Any
) -> None:
    """An unreadable counter, or one whose successor would be out of range."""
    raw.put({**_user().to_item(), "token_generation": stored})
    before = raw.item("usr_1")
    with pytest.raises(InternalError):
        store.revoke_tokens("usr_1", 1_800_000_000)
    assert raw.item("usr_1") == before


WRITES: dict[str, Callable[[Any], Any]] = {
    "link_identity": lambda s: s.link_identity("usr_1", Identity("github", "7")),
    "link_identity_secondary": lambda s: s.link_identity(
        "usr_1", Identity("github", "7"), primary=False
    ),
    "update_profile": lambda s: s.update_profile("usr_1", {"email": "a@b.example"}),
    "revoke_tokens": lambda s: s.revoke_tokens("usr_1", 1_800_000_000),
    "set_disabled": lambda s: s.set_disabled("usr_1", True),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_every_write_sets_updated_at_from_the_stores_clock(
    store: Any, raw: RawAccess, store_clock: FixedClock, write: Callable[[Any], Any]
) -> None:
    store.create(_user(), [Identity("google", "g-1")])
    store_clock.set(STORE_NOW + 123.9)  # floored to whole seconds
    assert write(store).updated_at == STORE_NOW + 123
    assert store.get("usr_1").updated_at == STORE_NOW + 123
    assert raw.item("usr_1")["updated_at"] == STORE_NOW + 123
    assert raw.item("usr_1")["created_at"] == _user().created_at


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_no_write_touches_what_the_library_does_not_know(
    store: Any, raw: RawAccess, write: Callable[[Any], Any]
) -> None:
    store.create(_user(), [Identity("google", "g-1")])
    raw.put({**raw.item("usr_1"), "tier": "pro", "plan_note": "kept", "seats": 3})
    write(store)
    after = raw.item("usr_1")
    assert (after["tier"], after["plan_note"], after["seats"]) == ("pro", "kept", 3)


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
        lambda s: s.revoke_tokens("usr_ghost", 1_800_000_000),
        lambda s: s.set_disabled("usr_ghost", True),
        lambda s: s.link_identity("usr_ghost", Identity("github", "1")),
    ],
    ids=["update_profile", "revoke_tokens", "set_disabled", "link_identity"],
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
        token_generation=7,
        tokens_valid_after=1_700_000_123,
    )
    store.create(user, [Identity("google", "sub'\"#with#hashes")])
    got = store.get("usr_1")
    assert got == user
    assert store.find_by_identity(Identity("google", "sub'\"#with#hashes")) == user
    stored = raw.item("usr_1")
    for name in ("created_at", "updated_at", "token_generation", "tokens_valid_after"):
        assert type(stored[name]) is int
        assert type(getattr(got, name)) is int


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
    assert after == {
        **item,
        "display_name": "Augusta Lovelace",
        "updated_at": STORE_NOW,
    }


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
