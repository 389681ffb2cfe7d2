"""``workos backfill-identities``: the raw identity of every user that has a
WorkOS user id and none, asked of the directory and linked; idempotent,
resumable, patient with 429s, and silent under ``--dry-run``."""

from __future__ import annotations

import logging

import pytest

from tests.factories import add_user
from wikibot_auth.adapters.memory import (
    FixedClock,
    InMemoryUserRepository,
    ScriptedIdentityDirectory,
)
from wikibot_auth.domain.errors import IdPError, IdPUnavailable, NotConfigured
from wikibot_auth.domain.migration import (
    CONFLICT,
    FAILED,
    LINKED,
    NO_IDENTITY,
    WOULD_LINK,
    BackfillIdentities,
    BackfillStep,
)
from wikibot_auth.domain.model import Identity

BOB = Identity("github", "583231")
GUID = "4F42ABDE-7E5D-4A2B-9D3C-2C1B0A998877"


@pytest.fixture
def users(clock: FixedClock) -> InMemoryUserRepository:
    repo = InMemoryUserRepository(clock=clock)
    add_user(repo, "usr_alice", Identity("google", "1"), Identity.workos("user_a"))
    add_user(repo, "usr_bob", Identity.workos("user_b"))
    add_user(repo, "usr_carol", Identity.local("carol@example.com"))
    add_user(repo, "usr_pat", Identity.workos("user_p"))  # a password user
    return repo


@pytest.fixture
def directory() -> ScriptedIdentityDirectory:
    return ScriptedIdentityDirectory({"user_b": BOB, "user_p": None})


@pytest.fixture
def backfill(users, directory, sleeps) -> BackfillIdentities:
    return BackfillIdentities(users, directory, sleep=sleeps, page_size=2)


def test_the_stranded_with_a_workos_id_are_asked_about_and_linked(
    users, directory, backfill, caplog
) -> None:
    steps: list[BackfillStep] = []
    with caplog.at_level(logging.INFO, logger="wikibot_auth"):
        summary = backfill(on_step=steps.append)
    assert directory.asked == ["user_b", "user_p"]  # never Alice or Carol
    assert steps == [
        BackfillStep("usr_bob", LINKED, "github"),
        BackfillStep("usr_pat", NO_IDENTITY),
    ]
    assert (summary.scanned, summary.candidates, summary.stopped_by) == (4, 2, None)
    assert summary.outcomes[LINKED] == 1
    assert summary.outcomes[NO_IDENTITY] == 1
    bob = users.get("usr_bob")
    assert (bob.oauth_provider, bob.oauth_provider_sub, bob.workos_user_id) == (
        "github",
        "583231",
        "user_b",
    )
    (linked,) = [r for r in caplog.records if r.getMessage() == "identity.linked"]
    assert (linked.user_id, linked.provider, linked.by) == (
        "usr_bob",
        "github",
        "operator",
    )


def test_running_it_again_asks_only_about_the_users_still_without_one(
    directory, backfill
) -> None:
    backfill()
    directory.asked.clear()
    summary = backfill()
    assert directory.asked == ["user_p"]
    assert summary.outcomes[LINKED] == 0


def test_dry_run_writes_nothing_and_says_what_it_would_link(
    users, directory, backfill
) -> None:
    writes = len(users.writes)
    summary = backfill(dry_run=True)
    assert summary.dry_run
    assert (summary.outcomes[WOULD_LINK], summary.outcomes[LINKED]) == (1, 0)
    assert len(users.writes) == writes
    assert users.find_by_identity(BOB) is None
    assert backfill.count_candidates() == 2


def test_a_429_is_waited_out_as_retry_after_says(directory, backfill, sleeps) -> None:
    directory.fail("user_b", IdPUnavailable("rate limited", retry_after=7), times=2)
    summary = backfill()
    assert sleeps == [7.0, 7.0]
    assert summary.outcomes[LINKED] == 1
    assert directory.asked == ["user_b", "user_b", "user_b", "user_p"]


def test_a_429_that_lasts_stops_the_run_and_a_rerun_goes_on(
    users, directory, backfill, sleeps
) -> None:
    directory.fail("user_b", IdPUnavailable("rate limited", retry_after=9999), 5)
    summary = backfill()
    assert summary.stopped_by == "idp_unavailable"
    assert summary.outcomes[FAILED] == 1
    assert sleeps == [300.0] * 4  # Retry-After capped
    assert "user_p" not in directory.asked  # stopped there
    assert backfill().outcomes[LINKED] == 1  # the next run goes on
    assert users.find_by_identity(BOB).user_id == "usr_bob"


def test_an_error_about_one_account_fails_that_user_only(directory, backfill) -> None:
    directory.fail("user_b", IdPError("WorkOS answered 404"))
    steps: list[BackfillStep] = []
    summary = backfill(on_step=steps.append)
    assert steps[0] == BackfillStep("usr_bob", FAILED, code="idp_error")
    assert summary.outcomes[FAILED] == 1
    assert summary.outcomes[NO_IDENTITY] == 1
    assert summary.stopped_by is None


def test_an_identity_another_user_holds_is_a_conflict_to_merge(
    users, backfill, caplog
) -> None:
    add_user(users, "usr_bob_direct", BOB)  # Bob signed in directly already
    steps: list[BackfillStep] = []
    with caplog.at_level(logging.INFO, logger="wikibot_auth"):
        backfill(on_step=steps.append)
    assert steps[0] == BackfillStep(
        "usr_bob", CONFLICT, "github", other_user_id="usr_bob_direct"
    )
    assert users.get("usr_bob").oauth_provider == "workos"
    (conflict,) = [r for r in caplog.records if r.getMessage() == "identity.conflict"]
    assert conflict.levelno == logging.ERROR
    assert (conflict.user_id, conflict.other_user_id) == ("usr_bob", "usr_bob_direct")


def test_microsoft_guids_are_linked_lower_cased(users, directory, backfill) -> None:
    directory.accounts["user_b"] = Identity("microsoft", GUID)
    add_user(users, "usr_eve", Identity("microsoft", GUID.upper().replace("4F", "5F")))
    backfill()
    assert (
        users.find_by_identity(Identity("microsoft", GUID.lower())).user_id == "usr_bob"
    )
    eve = users.get("usr_eve")
    assert eve.oauth_provider_sub == GUID.replace("4F", "5F").lower()
    assert directory.asked == ["user_b", "user_p"]  # Eve needs no lookup


def test_without_a_directory_the_backfill_is_not_configured(users) -> None:
    with pytest.raises(NotConfigured, match="WORKOS_API_KEY"):
        BackfillIdentities(users, None)()
