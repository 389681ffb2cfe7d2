"""The DynamoDB store's own rules: crash recovery without transactions, its
item shape and keys, every fault as a domain error, its client's budget, the
table tools and the CLI that uses them (the contract suite covers the port)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from tests.conftest import workos_profile
from tests.factories import make_user
from tests.integration.dynalite import dynalite_or_skip, free_port
from tests.integration.store_helpers import Backend, login, new_table
from wikibot_auth.adapters.dynamodb import (
    DynamoDBUserRepository,
    identity_key,
    make_dynamodb_client,
)
from wikibot_auth.adapters.dynamodb_table import DynamoDBTable
from wikibot_auth.domain.errors import InternalError, NotConfigured, StoreUnavailable
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


def _crash_login(backend: Backend, puts: int, **profile: Any) -> str:
    crashing = DynamoDBUserRepository(
        _CrashAfterPuts(backend.raw.client, puts), backend.repo.table
    )
    with pytest.raises(SystemExit):
        login(crashing, workos_profile(**profile))
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
        crashing = DynamoDBUserRepository(_CrashAfterPuts(raw.client, 1), store.table)
        identity = Identity("google", f"crash-{r}")
        with pytest.raises(SystemExit):
            login(crashing, workos_profile(workos_id=f"c_{r}", identity=identity))
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
    crashing = DynamoDBUserRepository(_CrashAfterPuts(raw.client, 1), store.table)
    with pytest.raises(SystemExit):
        crashing.create(make_user(), [GOOGLE, LONG])
    assert raw.identity_item(LONG) is None
    assert store.find_by_identity(GOOGLE).user_id == "usr_1"
    claim = raw.identity_item(LONG)
    assert (claim["user_id"], claim["subject"]) == ("usr_1", LONG.subject)
    assert store.find_by_identity(LONG).user_id == "usr_1"


class _FailingUpdates:
    """A client whose ``update_item`` answers a 500 (after its retries)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def update_item(self, **kwargs: Any) -> Any:
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


def test_a_validation_exception_is_an_internal_error_not_a_retryable_503(
    aws_env: None,
) -> None:
    client = make_dynamodb_client()
    repo = DynamoDBUserRepository(client, "users-t")
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "get_item",
            service_error_code="ValidationException",
            service_message="secret=testing-secret-do-not-log",
            http_status_code=400,
        )
        with pytest.raises(InternalError) as info:
            repo.get("usr_1")
    assert not isinstance(info.value, StoreUnavailable)
    assert "'users-t'" in info.value.message
    assert "ValidationException" in info.value.message
    assert "testing" not in info.value.message


def test_a_raw_claim_yields_to_an_alias_only_user_created_meanwhile(
    dynamo_backend: Backend,
) -> None:
    store, raw = dynamo_backend.repo, dynamo_backend.raw
    # A login crashed after claiming the raw identity; meanwhile a login whose
    # identities call failed created an alias-only user.
    crashing = DynamoDBUserRepository(_CrashAfterPuts(raw.client, 1), store.table)
    with pytest.raises(SystemExit):
        login(crashing, workos_profile())
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
    assert item["tokens_valid_after"] == {"N": "0"}
    assert item["disabled"] == {"BOOL": False}
    identity = client.get_item(
        TableName=store.table,
        Key={"pk": {"S": identity_key(Identity("google", "1234567890"))}},
        ConsistentRead=True,
    )["Item"]
    assert identity["pk"] == {"S": "IDENTITY#google#1234567890"}
    assert identity["user_id"] == {"S": user_id}


# -- DynamoDB faults -> store_unavailable


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [
        ("ProvisionedThroughputExceededException", 400, "throttling"),
        ("ThrottlingException", 400, "throttling"),
        ("AccessDeniedException", 400, "denied"),
        ("InternalServerError", 500, "answered"),
    ],
)
def test_dynamodb_errors_become_store_unavailable(
    aws_env: None, code: str, status: int, words: str
) -> None:
    client = make_dynamodb_client()
    repo = DynamoDBUserRepository(client, "users-t")
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "get_item",
            service_error_code=code,
            service_message="secret=testing-secret-do-not-log",
            http_status_code=status,
        )
        with pytest.raises(StoreUnavailable) as info:
            repo.get("usr_1")
    assert "'users-t'" in info.value.message
    assert words in info.value.message
    # The service's message stays out of ours (and so out of error bodies); the
    # library error is kept as the cause, for a traceback in the logs.
    assert "testing" not in str(info.value)
    assert all("testing" not in str(arg) for arg in info.value.args)
    assert isinstance(info.value.__cause__, ClientError)
    assert info.value.__cause__.response["Error"]["Code"] == code


def test_the_client_retries_standard_three_attempts_with_short_timeouts(
    aws_env: None,
) -> None:
    config = make_dynamodb_client().meta.config
    assert (config.connect_timeout, config.read_timeout) == (2, 3)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}


def test_a_missing_table_says_how_to_create_it(
    dynalite: str, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynalite)
    repo = DynamoDBUserRepository(make_dynamodb_client(), "no-such-table")
    with pytest.raises(StoreUnavailable, match="dynamodb create-table") as info:
        login(repo, workos_profile())
    assert "'no-such-table'" in info.value.message


def test_a_missing_table_on_moto(aws_env: None) -> None:
    with mock_aws():
        repo = DynamoDBUserRepository(make_dynamodb_client(), "absent")
        with pytest.raises(StoreUnavailable, match="create-table"):
            repo.get("usr_1")


def test_a_closed_port_is_store_unavailable(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{free_port()}")
    repo = DynamoDBUserRepository(make_dynamodb_client(), "users")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="unreachable") as info:
        repo.find_by_identity(Identity("google", "1"))
    # A refused connection is retried at once (standard mode backs off at most
    # 25 ms, then 50 ms, for a non-throttling DynamoDB error): no waiting.
    assert time.monotonic() - started < 2.0
    assert isinstance(info.value.__cause__, Exception)
    assert "testing" not in info.value.message


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def test_throttling_is_retried_three_attempts_then_store_unavailable(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.awsrequest import AWSResponse

    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{free_port()}")
    client = make_dynamodb_client()
    attempts: list[str] = []

    def throttled(request: Any, **_: Any) -> AWSResponse:
        attempts.append(request.url)
        body = b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException"}'
        return AWSResponse(request.url, 400, {}, _Raw(body))

    client.meta.events.register("before-send.dynamodb.GetItem", throttled)
    repo = DynamoDBUserRepository(client, "users-t")
    with pytest.raises(StoreUnavailable, match="throttling") as info:
        repo.get("usr_1")
    assert len(attempts) == 3
    assert info.value.retry_after == 1


@pytest.mark.parametrize(("ci", "outcome"), [("true", "fail"), ("", "skip")])
def test_missing_dynalite_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str, outcome: str
) -> None:
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if outcome == "fail" else pytest.skip.Exception
    with pytest.raises(expected, match="npm ci"), dynalite_or_skip(tmp_path / "nope"):
        pass  # pragma: no cover - never entered


def test_importing_the_container_does_not_import_boto3() -> None:
    code = (
        "import sys, wikibot_auth.entrypoints.containers, wikibot_auth.adapters.dynamodb;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_a_dynamodb_store_without_a_region_is_not_configured(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    container = create_container({"WIKIBOT_AUTH_USER_STORE": "dynamodb://t"})
    with pytest.raises(NotConfigured, match="AWS_DEFAULT_REGION"):
        container.user_repository()


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
