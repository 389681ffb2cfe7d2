"""``users merge FROM INTO``: the source's identities move to the target, the
source is signed out, disabled and marked merged, never deleted."""

from __future__ import annotations

import logging

import pytest

from tests.factories import add_user
from wikibot_auth.adapters.memory import FixedClock, InMemoryUserRepository
from wikibot_auth.domain.errors import OperationRefused, UnknownUser
from wikibot_auth.domain.model import Identity
from wikibot_auth.domain.repairs import MergeUsers

GOOGLE = Identity("google", "g-1")
GITHUB = Identity("github", "42")
ALIAS = Identity.workos("user_01")
CAROL = Identity.local("carol@example.com")


@pytest.fixture
def users(clock: FixedClock) -> InMemoryUserRepository:
    return InMemoryUserRepository(clock=clock)


@pytest.fixture
def merge(users, clock) -> MergeUsers:
    return MergeUsers(users, clock)


def test_a_straggler_merges_into_the_original_account(users, merge, caplog) -> None:
    """Bob signed up through WorkOS (alias only), then signed in directly with
    GitHub after the switch and got a second user: the second merges into the
    first, which keeps its tier and gains the GitHub identity."""
    add_user(users, "usr_bob", ALIAS, tier="pro")
    add_user(users, "usr_bob_2", GITHUB)
    with caplog.at_level(logging.INFO, logger="wikibot_auth"):
        result = merge("usr_bob_2", "usr_bob")
    assert result.moved == (GITHUB,)
    assert result.left == ()
    target = users.get("usr_bob")
    assert (target.oauth_provider, target.oauth_provider_sub, target.tier) == (
        "github",
        "42",
        "pro",
    )
    assert users.find_by_identity(GITHUB) == target == result.target
    source = users.get("usr_bob_2")
    assert (source.disabled, source.merged_into) == (True, "usr_bob")
    assert source.token_generation == 1  # signed out everywhere
    assert result.source == source
    events = [
        (r.getMessage(), r.user_id)
        for r in caplog.records
        if r.getMessage() in ("identity.linked", "user.merged")
    ]
    assert events == [("identity.linked", "usr_bob"), ("user.merged", "usr_bob_2")]
    assert caplog.records[-1].into_user_id == "usr_bob"


def test_every_identity_moves_and_the_targets_own_alias_stays(users, merge) -> None:
    add_user(users, "usr_into", GOOGLE, Identity.workos("user_09"))
    add_user(users, "usr_from", ALIAS, GITHUB, CAROL)
    result = merge("usr_from", "usr_into")
    assert set(result.moved) == {ALIAS, GITHUB, CAROL}
    target = users.get_with_identities("usr_into")
    assert set(target.identities) == {
        GOOGLE,
        GITHUB,
        ALIAS,
        CAROL,
        Identity.workos("user_09"),
    }
    assert (target.user.oauth_provider, target.user.workos_user_id) == (
        "google",
        "user_09",
    )
    assert users.get_with_identities("usr_from").identities == ()


def test_a_target_without_an_alias_records_the_one_it_gains(users, merge) -> None:
    add_user(users, "usr_into", GITHUB)
    add_user(users, "usr_from", ALIAS)
    merge("usr_from", "usr_into")
    assert users.get("usr_into").workos_user_id == "user_01"


def test_a_merge_stopped_halfway_is_finished_by_running_it_again(users, merge) -> None:
    add_user(users, "usr_into", GOOGLE)
    add_user(users, "usr_from", GITHUB, ALIAS)
    users.mark_merged("usr_from", "usr_into")  # the first run stopped here
    result = merge("usr_from", "usr_into")
    assert set(result.moved) == {GITHUB, ALIAS}
    assert users.get("usr_from").token_generation == 0  # its first run's job
    again = merge("usr_from", "usr_into")
    assert (again.moved, again.left) == ((), ())


def test_an_identity_taken_meanwhile_is_left_behind(users, merge) -> None:
    add_user(users, "usr_into", GOOGLE)
    add_user(users, "usr_from", GITHUB, ALIAS)

    original = users.move_identity

    def move(identity, from_user_id, to_user_id):
        if identity == ALIAS:  # another operator moved it elsewhere first
            add_user(users, "usr_other", GITLAB)
            original(identity, from_user_id, "usr_other")
        return original(identity, from_user_id, to_user_id)

    users.move_identity = move  # type: ignore[method-assign]
    result = merge("usr_from", "usr_into")
    assert (result.moved, result.left) == ((GITHUB,), (ALIAS,))
    assert users.find_by_identity(ALIAS).user_id == "usr_other"


GITLAB = Identity("gitlab", "7")


@pytest.mark.parametrize(
    ("setup", "source", "target", "refusal"),
    [
        (lambda u: None, "usr_a", "usr_a", "into itself"),
        (
            lambda u: u.set_disabled("usr_b", True),
            "usr_a",
            "usr_b",
            "usr_b is disabled",
        ),
        (
            lambda u: u.mark_merged("usr_b", "usr_c"),
            "usr_a",
            "usr_b",
            "usr_b was merged into usr_c",
        ),
        (
            lambda u: u.mark_merged("usr_a", "usr_c"),
            "usr_a",
            "usr_b",
            "usr_a was merged into usr_c already",
        ),
    ],
    ids=["itself", "disabled-target", "merged-target", "merged-elsewhere"],
)
def test_refusals_write_nothing(users, merge, setup, source, target, refusal) -> None:
    add_user(users, "usr_a", GOOGLE)
    add_user(users, "usr_b", GITHUB)
    add_user(users, "usr_c", GITLAB)
    setup(users)
    before = {u: users.get_with_identities(u) for u in ("usr_a", "usr_b", "usr_c")}
    with pytest.raises(OperationRefused, match=refusal):
        merge(source, target)
    assert {u: users.get_with_identities(u) for u in before} == before


def test_a_missing_user_is_named(users, merge) -> None:
    add_user(users, "usr_a", GOOGLE)
    with pytest.raises(UnknownUser, match="no user usr_ghost to merge"):
        merge("usr_ghost", "usr_a")
    with pytest.raises(UnknownUser, match="no target user usr_ghost"):
        merge("usr_a", "usr_ghost")
    assert users.get("usr_a").disabled is False


def test_a_disabled_source_may_be_merged(users, merge) -> None:
    add_user(users, "usr_a", GOOGLE)
    add_user(users, "usr_b", GITHUB)
    users.set_disabled("usr_a", True)
    assert merge("usr_a", "usr_b").moved == (GOOGLE,)
