"""``users migration-report``: users counted by the identities they hold, and
the stranded ones (a direct provider will not find them) listed."""

from __future__ import annotations

import pytest

from tests.factories import add_user
from wikibot_auth.adapters.memory import InMemoryUserRepository
from wikibot_auth.domain.migration import MigrationReport, StrandedUser
from wikibot_auth.domain.model import Identity

ALIAS = Identity.workos


@pytest.fixture
def users() -> InMemoryUserRepository:
    repo = InMemoryUserRepository()
    add_user(repo, "usr_alice", Identity("google", "108872335"), ALIAS("user_a"))
    add_user(repo, "usr_bob", ALIAS("user_b"), email="bob@example.com")
    add_user(repo, "usr_carol", Identity.local("carol@example.com"))
    add_user(repo, "usr_dan", Identity("github", "7"))
    add_user(
        repo, "usr_eve", Identity("microsoft", "ABCDEF01-0000-0000-0000-00000000000A")
    )
    add_user(repo, "usr_old", ALIAS("user_o"))
    repo.mark_merged("usr_old", "usr_dan")
    return repo


def test_users_are_counted_by_the_identities_they_hold(users) -> None:
    summary = MigrationReport(users, page_size=2)()
    assert summary.to_dict() == {
        "users": 6,
        "providers": {
            "github": 1,
            "google": 1,
            "local": 1,
            "microsoft": 1,
            "workos": 2,
        },
        "migrated": 2,
        "stranded": 3,
        "backfillable": 2,
        "merged": 1,
    }
    assert summary.stranded_users is None


def test_the_stranded_are_listed_when_asked(users) -> None:
    users.set_disabled("usr_carol", True)
    summary = MigrationReport(users)(list_stranded=True)
    assert summary.stranded_users == (
        StrandedUser("usr_bob", "bob@example.com", ("workos",), "user_b", False),
        StrandedUser("usr_carol", "ada@example.com", ("local",), None, True),
        StrandedUser("usr_eve", "ada@example.com", ("microsoft",), None, False),
    )
    listed = summary.to_dict()["stranded_users"]
    assert listed[0] == {
        "user_id": "usr_bob",
        "email": "bob@example.com",
        "providers": ["workos"],
        "workos_user_id": "user_b",
        "disabled": False,
    }


def test_an_empty_store_reports_nothing(users) -> None:
    summary = MigrationReport(InMemoryUserRepository())(list_stranded=True)
    assert (summary.users, summary.stranded_users, summary.providers) == (0, (), {})
