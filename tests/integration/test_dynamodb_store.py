"""The DynamoDB store's own rules: crash recovery without transactions, its
item shape and keys, the sign-out's one conditional ADD, the table tools and
the CLI that uses them. The contract suite covers the port; the client and
its faults are in test_dynamodb_client.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tests.conftest import workos_profile
from tests.factories import make_user
from tests.integration.peer_process import free_port
from tests.integration.store_helpers import STORE_NOW, Backend, login, new_table
from wikibot_auth.adapters.dynamodb import (
    DynamoDBUserRepository,
    identity_key,
    make_dynamodb_client,
)
from wikibot_auth.adapters.dynamodb_table import DynamoDBTable
from wikibot_auth.adapters.memory import FixedClock
from wikibot_auth.domain.errors import StoreUnavailable
from wikibot_auth.domain.model import Identity
from wikibot_auth.entrypoints.cli import main
from wikibot_auth.entrypoints.containers import create_container

pytest_plugins = ["tests.integration.store_fixtures"]

GOOGLE = Identity("google", "1234567890")
LONG = Identity("google", "s" * 10_000 + "ü")


# -- DynamoDB: a crash between the two writes, and completing readers


class _CrashAfterPuts:
    """A client that dies (as a process would) after ``puts`` put_item calls."""

    def __init__(self, client: Any, puts: int) -> None:
        self._client = client
        self._puts = puts

    def put_item(self, **kwargs: Any) -> Any:
        if self._puts == 0:
            raise SystemExit("crashed")
        self._puts -= 1
        return self._client.put_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _crash(backend: Backend, write: Callable[[Any], object], puts: int = 1) -> None:
    client = _CrashAfterPuts(backend.raw.client, puts)
    with pytest.raises(SystemExit):
        write(DynamoDBUserRepository(client, backend.repo.table))


def _crash_login(backend: Backend, puts: int, **profile: Any) -> str:
    _crash(backend, lambda repo: login(repo, workos_profile(**profile)), puts)
    assert backend.raw.user_count() == 0
    claim = backend.raw.identity_item(profile.get("identity", GOOGLE))
    assert claim is not None
    return str(claim["user_id"])


@pytest.mark.parametrize("puts", [1, 2], ids=["after-raw-claim", "after-alias"])
def test_a_crash_between_the_writes_is_completed_by_the_next_login(
    dynamo_backend: Backend, puts: int
) -> None:
    store, raw = dynamo_backend.repo, dynamo_backend.raw
    pending_id = _crash_login(dynamo_backend, puts)
    result = login(store, workos_profile())
    assert (result.user.user_id, result.created) == (pending_id, False)
    assert login(store, workos_profile()).user.user_id == pending_id
    alias_only = login(store, workos_profile(identity_lookup_failed=True))
    assert alias_only.user.user_id == pending_id
    assert raw.user_count() == 1
    assert "pending" in raw.identity_item(GOOGLE)  # kept: harmless


@pytest.mark.parametrize("puts", [1, 2], ids=["after-raw-claim", "after-alias"])
def test_an_alias_only_login_after_a_crash_never_makes_two_users(
    dynamo_backend: Backend, puts: int
) -> None:
    store, raw = dynamo_backend.repo, dynamo_backend.raw
    _crash_login(dynamo_backend, puts)
    first = login(store, workos_profile(identity_lookup_failed=True))
    again = login(store, workos_profile())
    assert again.user.user_id == first.user.user_id
    assert store.find_by_identity(GOOGLE) == again.user.record
    assert store.find_by_identity(Identity.workos("user_01ABC")) == (again.user.record)
    assert raw.user_count() == 1


def test_readers_completing_a_crashed_create_at_once_make_one_user_item(
    dynamo_backend: Backend,
) -> None:
    store, raw = dynamo_backend.repo, dynamo_backend.raw
    for r in range(10):
        identity = Identity("google", f"crash-{r}")
        profile = workos_profile(workos_id=f"c_{r}", identity=identity)
        _crash(dynamo_backend, lambda repo, profile=profile: login(repo, profile))
        barrier = threading.Barrier(8)

        def read(_: int, identity: Identity = identity, barrier: Any = barrier) -> str:
            barrier.wait()
            user = store.find_by_identity(identity)
            assert user is not None
            return user.user_id

        with ThreadPoolExecutor(8) as pool:
            assert len(set(pool.map(read, range(8)))) == 1
        assert raw.user_count() == r + 1


def test_a_crash_after_a_long_claim_is_completed_by_a_reader(
    dynamo_backend: Backend,
) -> None:
    store, raw = dynamo_backend.repo, dynamo_backend.raw
    pending_id = _crash_login(dynamo_backend, 1, identity=LONG)
    claim = raw.identity_item(LONG)
    assert claim["pk"].startswith("IDENTITY-SHA256#google#")
    assert (claim["provider"], claim["subject"]) == ("google", LONG.subject)
    found = store.find_by_identity(LONG)
    assert found is not None
    assert found.user_id == pending_id
    assert login(store, workos_profile(identity=LONG)).user.user_id == pending_id
    assert raw.user_count() == 1


def test_a_long_secondary_identity_is_claimed_by_the_completing_reader(
    dynamo_backend: Backend,
) -> None:
    store, raw = dynamo_backend.repo, dynamo_backend.raw
    _crash(dynamo_backend, lambda repo: repo.create(make_user(), [GOOGLE, LONG]))
    assert raw.identity_item(LONG) is None
    assert store.find_by_identity(GOOGLE).user_id == "usr_1"
    claim = raw.identity_item(LONG)
    assert (claim["user_id"], claim["subject"]) == ("usr_1", LONG.subject)
    assert store.find_by_identity(LONG).user_id == "usr_1"


class _FailingUpdates:
    """A client whose ``update_item`` that SETs attributes answers a 500
    (after its retries); the ``ADD`` of a key to ``identity_keys``, made
    before the identity item is written, goes through."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def update_item(self, **kwargs: Any) -> Any:
        if "SET" not in kwargs["UpdateExpression"]:
            return self._client.update_item(**kwargs)
        raise ClientError(
            {"Error": {"Code": "InternalServerError", "Message": "testing"}},
            "UpdateItem",
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_link_whose_user_update_fails_is_finished_by_the_next_login(
    dynamo_backend: Backend,
) -> None:
    """link_identity writes the identity item, then the user update fails:
    the login answers store_unavailable, and the next one finishes the link."""
    store, raw = dynamo_backend.repo, dynamo_backend.raw
    alias_only = login(store, workos_profile(identity_lookup_failed=True))
    user_id = alias_only.user.user_id
    failing = DynamoDBUserRepository(_FailingUpdates(raw.client), store.table)
    with pytest.raises(StoreUnavailable, match="InternalServerError"):
        failing.link_identity(user_id, GOOGLE)
    assert raw.identity_item(GOOGLE)["user_id"] == user_id
    assert store.get(user_id).oauth_provider == "workos"  # not yet linked
    with pytest.raises(StoreUnavailable):
        login(failing, workos_profile())
    again = login(store, workos_profile())
    assert (again.user.user_id, again.created) == (user_id, False)
    linked = store.get(user_id)
    assert (linked.oauth_provider, linked.oauth_provider_sub) == (
        "google",
        "1234567890",
    )
    assert raw.user_count() == 1


def test_identity_keys_are_bounded_deterministic_and_distinct() -> None:
    assert identity_key(GOOGLE) == "IDENTITY#google#1234567890"
    assert identity_key(Identity("google", "a#b")) == "IDENTITY#google#a#b"
    keys = {identity_key(Identity("google", c * 3000)) for c in "abc"}
    assert len(keys) == 3
    for key in keys:
        assert len(key.encode()) <= 1024
        assert key.startswith("IDENTITY-SHA256#google#")
    long = Identity("github", "é" * 600)  # 1200 bytes, 600 characters
    assert identity_key(long) == identity_key(Identity("github", "é" * 600))
    assert identity_key(long).startswith("IDENTITY-SHA256#github#")
    edge = Identity("x", "y" * (1024 - len("IDENTITY#x#")))
    assert identity_key(edge) == "IDENTITY#" + edge.key


def test_a_raw_claim_yields_to_an_alias_only_user_created_meanwhile(
    dynamo_backend: Backend,
) -> None:
    store, raw = dynamo_backend.repo, dynamo_backend.raw
    # A login crashed after claiming the raw identity; meanwhile a login whose
    # identities call failed created an alias-only user.
    _crash(dynamo_backend, lambda repo: login(repo, workos_profile()))
    alias_only = store.create(
        make_user(
            "usr_alias", oauth_provider="workos", oauth_provider_sub="user_01ABC"
        ),
        [Identity.workos("user_01ABC")],
    )
    assert alias_only[1] is True
    found = store.find_by_identity(Identity("google", "1234567890"))
    assert found is not None
    assert found.user_id == "usr_alias"
    assert (found.oauth_provider, found.oauth_provider_sub) == ("google", "1234567890")
    assert raw.user_count() == 1
    assert "pending" not in raw.identity_item(Identity("google", "1234567890"))


def test_dynamodb_item_shape(dynamo_backend: Backend) -> None:
    store, raw = dynamo_backend.repo, dynamo_backend.raw
    result = login(store, workos_profile())
    user_id = result.user.user_id
    client = raw.client
    item = client.get_item(
        TableName=store.table,
        Key={"pk": {"S": f"USER#{user_id}"}},
        ConsistentRead=True,
    )["Item"]
    assert item["user_id"] == {"S": user_id}
    assert item["oauth_provider"] == {"S": "google"}
    assert item["workos_user_id"] == {"S": "user_01ABC"}
    assert item["token_generation"] == {"N": "0"}
    assert item["tokens_valid_after"] == {"N": "0"}
    assert item["disabled"] == {"BOOL": False}
    store.revoke_tokens(user_id, 1_800_000_000)
    revoked = client.get_item(
        TableName=store.table,
        Key={"pk": {"S": f"USER#{user_id}"}},
        ConsistentRead=True,
    )["Item"]
    assert revoked["token_generation"] == {"N": "1"}
    assert revoked["tokens_valid_after"] == {"N": "1800000000"}
    assert revoked["updated_at"] == {"N": str(STORE_NOW)}
    identity = client.get_item(
        TableName=store.table,
        Key={"pk": {"S": identity_key(Identity("google", "1234567890"))}},
        ConsistentRead=True,
    )["Item"]
    assert identity["pk"] == {"S": "IDENTITY#google#1234567890"}
    assert identity["user_id"] == {"S": user_id}


def test_a_sign_out_is_one_conditional_add(aws_env: None) -> None:
    """DESIGN: ADD under attribute_exists(pk), atomic whatever the race; the
    condition also refuses a counter it could not count on (not a number,
    negative, or without a successor below 2**53) before writing."""
    client = make_dynamodb_client()
    repo = DynamoDBUserRepository(client, "users-t", clock=FixedClock(1_750_000_000.7))
    answer = {
        k: TypeSerializer().serialize(v) for k, v in make_user().to_item().items()
    }
    with Stubber(client) as stubber:
        stubber.add_response(
            "update_item",
            {"Attributes": {**answer, "token_generation": {"N": "1"}}},
            {
                "TableName": "users-t",
                "Key": {"pk": {"S": "USER#usr_1"}},
                "UpdateExpression": "ADD token_generation :one "
                "SET tokens_valid_after = :valid_after, updated_at = :now",
                "ConditionExpression": "attribute_exists(pk) AND "
                "(attribute_not_exists(token_generation) "
                "OR (attribute_type(token_generation, :number) "
                "AND token_generation BETWEEN :zero AND :last))",
                "ExpressionAttributeValues": {
                    ":one": {"N": "1"},
                    ":number": {"S": "N"},
                    ":valid_after": {"N": "1800000000"},
                    ":now": {"N": "1750000000"},
                    ":zero": {"N": "0"},
                    ":last": {"N": str(2**53 - 2)},
                },
                "ReturnValues": "ALL_NEW",
            },
        )
        assert repo.revoke_tokens("usr_1", 1_800_000_000).token_generation == 1
        stubber.assert_no_pending_responses()


def test_without_a_clock_writes_stamp_the_system_time(dynamo_backend: Backend) -> None:
    store = DynamoDBUserRepository(dynamo_backend.raw.client, dynamo_backend.repo.table)
    store.create(make_user(), [GOOGLE])
    before = int(time.time())
    assert before <= store.set_disabled("usr_1", True).updated_at <= time.time()


# -- the table tools, the container and the CLI


def test_the_table_tool_creates_once_and_counts_users_not_identities(
    dynamo_backend: Backend,
) -> None:
    table = DynamoDBTable(dynamo_backend.raw.client, dynamo_backend.repo.table)
    assert table.create() is False  # the fixture created it
    assert table.user_count() == 0
    login(dynamo_backend.repo, workos_profile())  # a user and two identities
    assert table.user_count() == 1


def test_the_table_tool_needs_a_name() -> None:
    with pytest.raises(ValueError, match="table name"):
        DynamoDBTable(object(), "")


def test_the_table_tool_against_a_closed_port_is_store_unavailable(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{free_port()}")
    table = DynamoDBTable(make_dynamodb_client(), "users")
    with pytest.raises(StoreUnavailable, match="unreachable"):
        table.user_count()


def test_the_container_builds_the_dynamodb_store_from_the_url(aws_env: None) -> None:
    container = create_container({"WIKIBOT_AUTH_USER_STORE": "dynamodb://tbl"})
    repo = container.user_repository()
    assert isinstance(repo, DynamoDBUserRepository)
    assert repo.table == "tbl"
    assert container.dynamodb_client() is container.dynamodb_client()
    assert repo._client is container.dynamodb_client()


def test_cli_creates_the_table_on_dynalite(
    dynalite: str,
    aws_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynalite)
    table = new_table()
    assert main(["dynamodb", "create-table", "--table", table]) == 0
    assert capsys.readouterr().out == f"created: {table} (ACTIVE)\n"
    described = boto3.client("dynamodb").describe_table(TableName=table)["Table"]
    assert described["TableStatus"] == "ACTIVE"
    assert described["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"

    monkeypatch.setenv("WIKIBOT_AUTH_USER_STORE", f"dynamodb://{table}")
    assert main(["dynamodb", "create-table"]) == 0
    assert capsys.readouterr().out == f"exists: {table} (ACTIVE)\n"
    repo = create_container().user_repository()
    assert login(repo, workos_profile()).created is True


def test_cli_create_table_needs_a_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WIKIBOT_AUTH_USER_STORE", "memory://")
    assert main(["dynamodb", "create-table"]) == 2
    assert "--table" in capsys.readouterr().err


def test_cli_create_table_against_a_closed_port_exits_3(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{free_port()}")
    assert main(["dynamodb", "create-table", "--table", "t"]) == 3
    assert "store_unavailable" in capsys.readouterr().err
