"""Which identity a user records as identities are linked, unlinked, moved."""

from __future__ import annotations

import pytest

from tests.factories import make_user
from wikibot_auth.domain.linking import (
    best_identity,
    canonical_identity,
    is_raw,
    recorded_after_unlink,
    records_as_primary,
)
from wikibot_auth.domain.model import Identity

GOOGLE = Identity("google", "g-1")
GITHUB = Identity("github", "42")
ALIAS = Identity.workos("user_01")
LOCAL = Identity.local("ada@example.com")
GUID = "4F42ABDE-7E5D-4A2B-9D3C-2C1B0A998877"


def test_the_alias_and_local_are_not_raw() -> None:
    assert is_raw(GOOGLE)
    assert not is_raw(ALIAS)
    assert not is_raw(LOCAL)


@pytest.mark.parametrize(
    ("identity", "canonical"),
    [
        (Identity("microsoft", GUID), Identity("microsoft", GUID.lower())),
        (Identity("microsoft", GUID.lower()), Identity("microsoft", GUID.lower())),
        # A pairwise sub (or anything but a GUID) is case-sensitive: kept.
        (Identity("microsoft", "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ"), None),
        (Identity("google", GUID), None),
    ],
)
def test_only_microsoft_guids_are_lower_cased(identity, canonical) -> None:
    assert canonical_identity(identity) == (canonical or identity)


def test_a_raw_identity_becomes_primary_only_over_an_alias_or_local() -> None:
    stranded = make_user(oauth_provider="workos", oauth_provider_sub="user_01")
    assert records_as_primary(stranded, GITHUB)
    assert not records_as_primary(stranded, Identity.workos("user_02"))
    assert records_as_primary(
        make_user(oauth_provider="", oauth_provider_sub=""), GOOGLE
    )
    assert not records_as_primary(make_user(), GITHUB)  # records google already
    upper = make_user(oauth_provider="microsoft", oauth_provider_sub=GUID)
    assert records_as_primary(upper, Identity("microsoft", GUID.lower()))


def test_the_best_identity_is_raw_then_alias_then_local() -> None:
    assert best_identity([LOCAL, ALIAS, GITHUB, GOOGLE]) == GITHUB
    assert best_identity([LOCAL, ALIAS]) == ALIAS
    assert best_identity([LOCAL]) == LOCAL
    assert best_identity([]) is None


def test_unlinking_what_the_record_names_names_the_best_remaining() -> None:
    user = make_user()  # google g-1, workos user_01
    assert recorded_after_unlink(user, GOOGLE, [GOOGLE, ALIAS, GITHUB]) == {
        "oauth_provider": "github",
        "oauth_provider_sub": "42",
    }
    assert recorded_after_unlink(user, ALIAS, [GOOGLE, ALIAS]) == {
        "workos_user_id": None
    }
    assert recorded_after_unlink(user, ALIAS, [ALIAS, Identity.workos("u2")]) == {
        "workos_user_id": "u2"
    }
    assert recorded_after_unlink(user, GITHUB, [GOOGLE, GITHUB]) == {}
    assert recorded_after_unlink(user, GOOGLE, [GOOGLE]) == {}  # nothing left
