"""The operator's link-identity and unlink-identity repairs, on the in-memory store."""

from __future__ import annotations

import logging

import pytest

from tests.factories import add_user
from wikibot_auth.adapters.memory import FixedClock, InMemoryUserRepository
from wikibot_auth.domain.errors import OperationRefused, UnknownUser
from wikibot_auth.domain.model import Identity
from wikibot_auth.domain.repairs import LinkIdentity, UnlinkIdentity

GOOGLE = Identity("google", "g-1")
GITHUB = Identity("github", "42")
ALIAS = Identity.workos("user_01")


@pytest.fixture
def users(clock: FixedClock) -> InMemoryUserRepository:
    return InMemoryUserRepository(clock=clock)


def _audited(caplog: pytest.LogCaptureFixture) -> list[tuple[str, dict[str, str]]]:
    fields = ("user_id", "provider", "by")
    return [
        (r.getMessage(), {f: getattr(r, f) for f in fields})
        for r in caplog.records
        if r.getMessage().startswith("identity.")
    ]


def test_linking_a_raw_identity_to_a_stranded_user_records_it(users, caplog) -> None:
    add_user(users, "usr_bob", ALIAS)
    with caplog.at_level(logging.INFO, logger="wikibot_auth"):
        linked = LinkIdentity(users)("usr_bob", GITHUB)
    assert (linked.oauth_provider, linked.oauth_provider_sub) == ("github", "42")
    assert users.find_by_identity(GITHUB) == linked
    assert _audited(caplog) == [
        (
            "identity.linked",
            {"user_id": "usr_bob", "provider": "github", "by": "operator"},
        )
    ]


def test_a_second_raw_identity_is_linked_without_replacing_the_recorded_one(
    users,
) -> None:
    add_user(users, "usr_ada", GOOGLE, ALIAS)
    linked = LinkIdentity(users)("usr_ada", GITHUB)
    assert (linked.oauth_provider, linked.oauth_provider_sub) == ("google", "g-1")
    assert users.get_with_identities("usr_ada").identities == (GITHUB, GOOGLE, ALIAS)


def test_a_microsoft_guid_is_linked_lower_cased(users) -> None:
    add_user(users, "usr_bob", ALIAS)
    LinkIdentity(users)(
        "usr_bob", Identity("microsoft", "ABCDEF01-0000-0000-0000-00000000000A")
    )
    held = users.get_with_identities("usr_bob").identities
    assert Identity("microsoft", "abcdef01-0000-0000-0000-00000000000a") in held


def test_linking_an_identity_of_another_user_is_refused(users, caplog) -> None:
    add_user(users, "usr_ada", GOOGLE)
    before = add_user(users, "usr_bob", ALIAS)
    with (
        caplog.at_level(logging.INFO, logger="wikibot_auth"),
        pytest.raises(OperationRefused, match="belongs to user usr_ada"),
    ):
        LinkIdentity(users)("usr_bob", GOOGLE)
    assert users.get("usr_bob") == before
    assert _audited(caplog) == []


def test_linking_what_the_user_holds_changes_nothing(users, caplog) -> None:
    before = add_user(users, "usr_ada", GOOGLE)
    with caplog.at_level(logging.INFO, logger="wikibot_auth"):
        assert LinkIdentity(users)("usr_ada", GOOGLE) == before
    assert _audited(caplog) == []


def test_linking_to_a_missing_or_merged_user_is_refused(users) -> None:
    with pytest.raises(UnknownUser):
        LinkIdentity(users)("usr_ghost", GITHUB)
    add_user(users, "usr_old", ALIAS)
    users.mark_merged("usr_old", "usr_new")
    with pytest.raises(OperationRefused, match="merged into usr_new"):
        LinkIdentity(users)("usr_old", GITHUB)


def test_unlink_removes_the_identity_and_audits_it(users, caplog) -> None:
    add_user(users, "usr_ada", GOOGLE, ALIAS)
    with caplog.at_level(logging.INFO, logger="wikibot_auth"):
        after = UnlinkIdentity(users)("usr_ada", GOOGLE)
    assert (after.oauth_provider, after.oauth_provider_sub) == ("workos", "user_01")
    assert users.find_by_identity(GOOGLE) is None
    assert _audited(caplog) == [
        (
            "identity.unlinked",
            {"user_id": "usr_ada", "provider": "google", "by": "operator"},
        )
    ]


def test_the_last_identity_is_never_unlinked(users) -> None:
    add_user(users, "usr_carol", Identity.local("carol@example.com"))
    with pytest.raises(OperationRefused, match="last of user usr_carol"):
        UnlinkIdentity(users)("usr_carol", Identity.local("carol@example.com"))
    assert users.find_by_identity(Identity.local("carol@example.com")) is not None


def test_unlinking_what_the_user_does_not_hold_is_refused(users) -> None:
    add_user(users, "usr_ada", GOOGLE, ALIAS)
    add_user(users, "usr_bob", GITHUB)
    with pytest.raises(OperationRefused, match="belongs to user usr_bob"):
        UnlinkIdentity(users)("usr_ada", GITHUB)
    with pytest.raises(OperationRefused, match=r"not linked to user usr_ada$"):
        UnlinkIdentity(users)("usr_ada", Identity("gitlab", "1"))
    with pytest.raises(UnknownUser):
        UnlinkIdentity(users)("usr_ghost", GITHUB)
    assert users.find_by_identity(GITHUB).user_id == "usr_bob"
