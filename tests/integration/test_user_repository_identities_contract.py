"""The ``UserRepository`` contract, continued: what the operator's tools for
leaving WorkOS need (every identity of a user, a paginated walk over every
user, unlink, move, mark merged), over every store: in-memory, SQLite,
DynamoDB on moto and on dynalite."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest

from tests.factories import add_user
from tests.integration.store_helpers import STORE_NOW, RawAccess
from wikibot_auth.adapters.memory import FixedClock
from wikibot_auth.domain.errors import OperationRefused, UnknownUser
from wikibot_auth.domain.model import Identity, UserWithIdentities

pytest_plugins = ["tests.integration.store_fixtures"]

GOOGLE = Identity("google", "g-1")
ALIAS = Identity.workos("user_01")
GITHUB = Identity("github", "42")
# Over 1024 bytes as a key: DynamoDB's digest form.
LONG = Identity("google", "s" * 2_000 + "ü")


def _walk(store: Any, limit: int) -> list[UserWithIdentities]:
    found: list[UserWithIdentities] = []
    cursor = None
    for _ in range(1_000):
        page = store.scan_users(cursor, limit)
        assert len(page.users) <= limit
        found.extend(page.users)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor
    raise AssertionError("the walk never ended")


# -- every identity of a user


def test_get_with_identities_names_every_identity_of_that_user_only(
    store: Any,
) -> None:
    ada = add_user(store, "usr_1", GOOGLE, ALIAS)
    add_user(store, "usr_2", Identity("google", "g-2"))
    store.link_identity("usr_1", GITHUB, primary=False)
    got = store.get_with_identities("usr_1")
    assert got.user == attrs.evolve(ada, updated_at=STORE_NOW)
    assert got.identities == (GITHUB, GOOGLE, ALIAS)  # sorted
    assert store.get_with_identities("usr_2").identities == (Identity("google", "g-2"),)
    assert store.get_with_identities("usr_missing") is None


def test_a_long_subject_is_named_whole(store: Any) -> None:
    add_user(store, "usr_1", LONG, ALIAS)
    assert store.get_with_identities("usr_1").identities == (LONG, ALIAS)


# -- the walk


def test_a_walk_over_an_empty_store_ends_at_once(store: Any) -> None:
    page = store.scan_users(None, 10)
    assert (page.users, page.next_cursor) == ((), None)


def _population(store: Any) -> dict[str, tuple[Identity, ...]]:
    add_user(store, "usr_a", GOOGLE, ALIAS)
    add_user(store, "usr_b", Identity.workos("user_02"))
    add_user(store, "usr_c", Identity.local("carol@example.com"))
    add_user(store, "usr_d", LONG)
    add_user(store, "usr_e", GITHUB, Identity.workos("user_05"))
    store.link_identity("usr_e", Identity("microsoft", "m-5"), primary=False)
    return {
        "usr_a": (GOOGLE, ALIAS),
        "usr_b": (Identity.workos("user_02"),),
        "usr_c": (Identity.local("carol@example.com"),),
        "usr_d": (LONG,),
        "usr_e": (GITHUB, Identity("microsoft", "m-5"), Identity.workos("user_05")),
    }


def test_every_page_size_walks_every_user_once_with_its_identities(
    store: Any,
) -> None:
    expected = _population(store)
    for limit in range(1, len(expected) + 2):
        walked = _walk(store, limit)
        assert sorted(u.user.user_id for u in walked) == sorted(expected), limit
        for found in walked:
            assert found.identities == tuple(sorted(expected[found.user.user_id]))
            assert found.user == store.get(found.user.user_id)


def test_a_user_created_mid_walk_leaves_the_others_walked_once(store: Any) -> None:
    expected = _population(store)
    seen: list[str] = []
    page = store.scan_users(None, 2)
    seen.extend(u.user.user_id for u in page.users)
    add_user(store, "usr_new", Identity("google", "g-new"))
    add_user(store, "usr_0", Identity("google", "g-0"))  # sorts before the others
    while page.next_cursor is not None:
        page = store.scan_users(page.next_cursor, 2)
        seen.extend(u.user.user_id for u in page.users)
    assert len(seen) == len(set(seen))
    assert set(expected) <= set(seen) <= {*expected, "usr_new", "usr_0"}


def test_a_page_needs_a_positive_limit(store: Any) -> None:
    with pytest.raises(ValueError, match="page"):
        store.scan_users(None, 0)


# -- unlink


def test_unlinking_the_recorded_identity_records_the_best_remaining_one(
    store: Any,
) -> None:
    add_user(store, "usr_1", GOOGLE, ALIAS)
    store.link_identity("usr_1", GITHUB, primary=False)
    after = store.unlink_identity("usr_1", GOOGLE)
    assert (after.oauth_provider, after.oauth_provider_sub) == ("github", "42")
    assert after.workos_user_id == "user_01"
    assert after.updated_at == STORE_NOW
    assert store.find_by_identity(GOOGLE) is None
    assert store.get_with_identities("usr_1").identities == (GITHUB, ALIAS)
    after = store.unlink_identity("usr_1", GITHUB)
    assert (after.oauth_provider, after.oauth_provider_sub) == ("workos", "user_01")
    assert store.get("usr_1") == after


def test_unlinking_the_alias_forgets_the_workos_user_id(
    store: Any, raw: RawAccess
) -> None:
    add_user(store, "usr_1", GOOGLE, ALIAS)
    after = store.unlink_identity("usr_1", ALIAS)
    assert (after.oauth_provider, after.workos_user_id) == ("google", None)
    assert "workos_user_id" not in raw.item("usr_1")
    assert store.get_with_identities("usr_1").identities == (GOOGLE,)


def test_an_unlinked_identity_is_free_to_link_again(store: Any) -> None:
    add_user(store, "usr_1", LONG, ALIAS)
    add_user(store, "usr_2", GITHUB)
    store.unlink_identity("usr_1", LONG)
    assert store.link_identity("usr_2", LONG, primary=False).user_id == "usr_2"
    assert store.find_by_identity(LONG).user_id == "usr_2"
    assert store.get_with_identities("usr_1").identities == (ALIAS,)


@pytest.mark.parametrize("identity", [GITHUB, Identity("google", "nobody")])
def test_unlinking_an_identity_that_is_not_the_users_writes_nothing(
    store: Any, raw: RawAccess, identity: Identity
) -> None:
    add_user(store, "usr_1", GOOGLE)
    add_user(store, "usr_2", GITHUB)
    before = raw.item("usr_1")
    with pytest.raises(OperationRefused):
        store.unlink_identity("usr_1", identity)
    assert raw.item("usr_1") == before
    assert store.find_by_identity(GITHUB).user_id == "usr_2"
    with pytest.raises(UnknownUser):
        store.unlink_identity("usr_ghost", GOOGLE)


# -- move and merge


def test_move_re_points_the_identity_and_nothing_else(store: Any) -> None:
    source = add_user(store, "usr_from", GOOGLE, ALIAS)
    target = add_user(store, "usr_into", GITHUB)
    moved = store.move_identity(ALIAS, "usr_from", "usr_into")
    assert moved == attrs.evolve(target, updated_at=STORE_NOW)
    assert store.find_by_identity(ALIAS) == moved
    assert store.get_with_identities("usr_into").identities == (GITHUB, ALIAS)
    assert store.get_with_identities("usr_from").identities == (GOOGLE,)
    assert store.get("usr_from") == attrs.evolve(source, updated_at=STORE_NOW)
    # Again: it is there already.
    assert store.move_identity(ALIAS, "usr_from", "usr_into").user_id == "usr_into"


def test_a_long_identity_moves(store: Any) -> None:
    add_user(store, "usr_from", LONG)
    add_user(store, "usr_into", GITHUB)
    assert store.move_identity(LONG, "usr_from", "usr_into").user_id == "usr_into"
    assert store.find_by_identity(LONG).user_id == "usr_into"
    assert store.get_with_identities("usr_from").identities == ()
    assert store.get_with_identities("usr_into").identities == (GITHUB, LONG)


def test_move_of_an_identity_that_is_not_the_sources_writes_nothing(
    store: Any, raw: RawAccess
) -> None:
    add_user(store, "usr_from", GOOGLE)
    add_user(store, "usr_into", GITHUB)
    add_user(store, "usr_other", ALIAS)
    before = raw.item("usr_other"), raw.item("usr_from")
    assert store.move_identity(ALIAS, "usr_from", "usr_into").user_id == "usr_other"
    assert store.move_identity(Identity("x", "y"), "usr_from", "usr_into") is None
    assert (raw.item("usr_other"), raw.item("usr_from")) == before
    assert store.find_by_identity(ALIAS).user_id == "usr_other"
    assert store.get_with_identities("usr_into").identities == (GITHUB,)
    with pytest.raises(UnknownUser):
        store.move_identity(GOOGLE, "usr_from", "usr_ghost")
    assert store.find_by_identity(GOOGLE).user_id == "usr_from"


def test_mark_merged_disables_and_records_where_it_went(
    store: Any, raw: RawAccess
) -> None:
    created = add_user(store, "usr_from", GOOGLE)
    raw.put({**raw.item("usr_from"), "plan_note": "kept"})
    merged = store.mark_merged("usr_from", "usr_into")
    assert merged == attrs.evolve(
        created, disabled=True, merged_into="usr_into", updated_at=STORE_NOW
    )
    assert store.get("usr_from") == merged
    assert raw.item("usr_from")["plan_note"] == "kept"
    with pytest.raises(UnknownUser):
        store.mark_merged("usr_ghost", "usr_into")


GITLAB = Identity("gitlab", "7")
WRITES: dict[str, Callable[[Any], Any]] = {
    "unlink_identity": lambda s: s.unlink_identity("usr_1", GITHUB),
    "move_identity": lambda s: s.move_identity(GITLAB, "usr_2", "usr_1"),
    "mark_merged": lambda s: s.mark_merged("usr_1", "usr_2"),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_each_write_sets_updated_at_and_keeps_what_it_does_not_know(
    store: Any, raw: RawAccess, store_clock: FixedClock, write: Callable[[Any], Any]
) -> None:
    add_user(store, "usr_1", GOOGLE, GITHUB)
    add_user(store, "usr_2", Identity("google", "g-2"), GITLAB)
    raw.put({**raw.item("usr_1"), "tier": "pro", "plan_note": "kept"})
    store_clock.set(STORE_NOW + 123.9)
    assert write(store).updated_at == STORE_NOW + 123
    after = raw.item("usr_1")
    assert (after["tier"], after["plan_note"]) == ("pro", "kept")
    assert after["updated_at"] == STORE_NOW + 123
