"""The in-memory store's own rules (the shared contract suite covers the port):
what it records, and the clock it stamps writes with."""

from __future__ import annotations

import time

import pytest

from tests.factories import make_user as user
from wikibot_auth.adapters.memory import FixedClock, InMemoryUserRepository
from wikibot_auth.domain.errors import InternalError, UnknownUser
from wikibot_auth.domain.model import Identity

GOOGLE = Identity("google", "1")
ALIAS = Identity.workos("user_1")


def test_create_with_a_taken_identity_returns_the_winner(repo):
    first, created = repo.create(user("usr_a"), [GOOGLE, ALIAS])
    second, created_again = repo.create(user("usr_b"), [Identity("github", "9"), ALIAS])
    assert (created, created_again) == (True, False)
    assert second == first
    assert repo.find_by_identity(Identity("github", "9")) is None
    assert repo.user_count() == 1


def test_link_identity_taken_by_another_user_returns_that_user(repo):
    a, _ = repo.create(user("usr_a"), [GOOGLE])
    b, _ = repo.create(user("usr_b"), [ALIAS])
    assert repo.link_identity(b.user_id, GOOGLE) == a
    assert repo.get(b.user_id) == b


def test_writes_are_recorded_by_name(repo):
    repo.create(user(), [GOOGLE])
    repo.link_identity("usr_1", ALIAS, primary=False)
    repo.update_profile("usr_1", {"email": "a@b.example"})
    repo.update_profile("usr_1", {})  # nothing to write
    repo.revoke_tokens("usr_1", 1_800_000_000)
    repo.set_disabled("usr_1", True)
    assert list(repo.writes) == [
        ("create", "usr_1"),
        ("link_identity", "usr_1"),
        ("update_profile", "usr_1"),
        ("revoke_tokens", "usr_1"),
        ("set_disabled", "usr_1"),
    ]


def test_a_write_that_would_not_read_back_changes_and_records_nothing(repo):
    repo.create(user(), [GOOGLE])
    repo.put_raw_item({**repo.raw_item("usr_1"), "token_generation": 2**53 - 1})
    before, writes = repo.raw_item("usr_1"), list(repo.writes)
    with pytest.raises(InternalError):
        repo.revoke_tokens("usr_1", 1_800_000_000)
    assert (repo.raw_item("usr_1"), list(repo.writes)) == (before, writes)


def test_writes_stamp_updated_at_from_the_clock_in_whole_seconds():
    clock = FixedClock(1_750_000_000.9)
    repo = InMemoryUserRepository(clock=clock)
    repo.create(user(), [GOOGLE])
    assert repo.set_disabled("usr_1", True).updated_at == 1_750_000_000
    clock.advance(10)
    assert repo.revoke_tokens("usr_1", 1).updated_at == 1_750_000_010


def test_without_a_clock_writes_stamp_the_system_time():
    repo = InMemoryUserRepository()
    repo.create(user(), [GOOGLE])
    before = int(time.time())
    assert before <= repo.set_disabled("usr_1", True).updated_at <= time.time()


@pytest.mark.parametrize(
    "update",
    [
        lambda r: r.update_profile("usr_x", {"email": "e"}),
        lambda r: r.revoke_tokens("usr_x", 1),
        lambda r: r.set_disabled("usr_x", True),
        lambda r: r.link_identity("usr_x", GOOGLE),
    ],
    ids=["update_profile", "revoke_tokens", "set_disabled", "link_identity"],
)
def test_updates_of_a_missing_user_create_nothing(repo, update):
    with pytest.raises(UnknownUser):
        update(repo)
    assert repo.user_count() == 0
    assert repo.find_by_identity(GOOGLE) is None
    assert list(repo.writes) == []
