"""The DynamoDB store's walk and identities of a user: ``identity_keys`` on the
user item (a superset, checked against the identity items), records older than
it, a paginated ``Scan`` that never reads more than a page, opaque cursors.
The contract suite covers the port."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import make_user
from tests.integration.store_helpers import Backend
from wikibot_auth.adapters.dynamodb import DynamoDBUserRepository, identity_key
from wikibot_auth.domain.model import Identity

pytest_plugins = ["tests.integration.store_fixtures"]

GOOGLE = Identity("google", "g-1")
ALIAS = Identity.workos("user_01")
GITHUB = Identity("github", "42")


class _Recording:
    """A client that records the keyword arguments of every call by name."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            return attribute(**kwargs)

        return call


def test_create_and_link_name_the_identity_items_on_the_user_item(
    dynamo_backend: Backend,
) -> None:
    store, raw = dynamo_backend.repo, dynamo_backend.raw
    store.create(make_user("usr_1"), [GOOGLE, ALIAS])
    store.link_identity("usr_1", GITHUB, primary=False)
    assert raw.item("usr_1")["identity_keys"] == {
        identity_key(GOOGLE),
        identity_key(ALIAS),
        identity_key(GITHUB),
    }
    store.unlink_identity("usr_1", GITHUB)
    assert GITHUB not in store.get_with_identities("usr_1").identities
    assert identity_key(GITHUB) not in raw.item("usr_1")["identity_keys"]


def test_a_record_older_than_identity_keys_shows_its_recorded_identities(
    dynamo_backend: Backend,
) -> None:
    """Written by an earlier version: no ``identity_keys``. Its primary and
    alias are found through the identity items they name; an identity item
    that names another user is not its."""
    store, raw = dynamo_backend.repo, dynamo_backend.raw
    raw.put(make_user("usr_old").to_item())
    raw.put_identity_item(GOOGLE, {"user_id": "usr_old"})
    raw.put_identity_item(ALIAS, {"user_id": "usr_someone_else"})
    assert store.get_with_identities("usr_old").identities == (GOOGLE,)
    page = store.scan_users(None, 10)
    assert [u.identities for u in page.users] == [(GOOGLE,)]
    # The next write names it on the record, and the store knows it from then.
    store.link_identity("usr_old", GITHUB, primary=False)
    assert store.get_with_identities("usr_old").identities == (GITHUB, GOOGLE)


def test_an_extra_key_left_by_a_crash_is_not_an_identity(
    dynamo_backend: Backend,
) -> None:
    """``ADD`` to ``identity_keys`` comes before the identity item: a crash
    in between (or a link lost to another user) leaves a key whose item does
    not name this user."""
    store, raw = dynamo_backend.repo, dynamo_backend.raw
    store.create(make_user("usr_1"), [GOOGLE])
    store.create(make_user("usr_2", oauth_provider="github"), [GITHUB])
    assert store.link_identity("usr_1", GITHUB).user_id == "usr_2"
    raw.put({**raw.item("usr_1"), "identity_keys": {identity_key(Identity("x", "y"))}})
    assert store.get_with_identities("usr_1").identities == (GOOGLE,)


def test_a_page_reads_no_more_than_its_users_and_batches_their_identities(
    dynamo_backend: Backend,
) -> None:
    store, raw = dynamo_backend.repo, dynamo_backend.raw
    for n in range(10):
        store.create(
            make_user(f"usr_{n}", oauth_provider="google", oauth_provider_sub=f"{n}"),
            [Identity("google", f"{n}"), Identity.workos(f"user_{n}")],
        )
    client = _Recording(raw.client)
    walker = DynamoDBUserRepository(client, store.table)
    seen, cursor = [], None
    while True:
        page = walker.scan_users(cursor, 3)
        assert len(page.users) <= 3
        seen.extend(page.users)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(u.user.user_id for u in seen) == [f"usr_{n}" for n in range(10)]
    assert all(len(u.identities) == 2 for u in seen)
    scans = [kwargs for name, kwargs in client.calls if name == "scan"]
    assert all(1 <= kwargs["Limit"] <= 3 for kwargs in scans)
    assert {name for name, _ in client.calls} == {"scan", "batch_get_item"}


@pytest.mark.parametrize(
    "cursor", ["", "USER#usr_1", "d1.!!!", "d1." + "Zm9v", "d1.SURFTlRJVFk"]
)
def test_a_cursor_it_did_not_make_is_refused(
    dynamo_backend: Backend, cursor: str
) -> None:
    with pytest.raises(ValueError, match="cursor"):
        dynamo_backend.repo.scan_users(cursor, 10)
