"""The in-memory store's own rules (the shared contract suite covers the rest)."""

from __future__ import annotations

import pytest

from tests.factories import make_user as user
from wikibot_auth.domain.errors import UnknownUser
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
    assert repo.get(b.user_id).oauth_provider_sub == "g-1"


def test_tokens_valid_after_never_goes_down(repo):
    repo.create(user("usr_a"), [GOOGLE])
    repo.set_tokens_valid_after("usr_a", 100)
    assert repo.set_tokens_valid_after("usr_a", 50).tokens_valid_after == 100


@pytest.mark.parametrize(
    "update",
    [
        lambda r: r.update_profile("usr_x", {"email": "e"}),
        lambda r: r.set_tokens_valid_after("usr_x", 1),
        lambda r: r.set_disabled("usr_x", True),
        lambda r: r.link_identity("usr_x", GOOGLE),
    ],
    ids=["update_profile", "set_tokens_valid_after", "set_disabled", "link_identity"],
)
def test_updates_of_a_missing_user_create_nothing(repo, update):
    with pytest.raises(UnknownUser):
        update(repo)
    assert repo.user_count() == 0
    assert repo.find_by_identity(GOOGLE) is None
