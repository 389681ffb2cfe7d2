"""The DynamoDB store's client: its budget, and every failure of the service
or the network answered as a domain error naming the table, never the
service's message or a credential."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from tests.conftest import workos_profile
from tests.integration.peer_process import free_port
from tests.integration.store_helpers import login
from wikibot_auth.adapters.dynamodb import DynamoDBUserRepository, make_dynamodb_client
from wikibot_auth.domain.errors import InternalError, NotConfigured, StoreUnavailable
from wikibot_auth.domain.model import Identity
from wikibot_auth.entrypoints.containers import create_container

pytest_plugins = ["tests.integration.store_fixtures"]


def get_answered(code: str, status: int, raises: type[Exception]) -> Any:
    """What ``get`` raises on table 'users-t' when DynamoDB answers ``code``
    with ``status`` and a message that must not be logged."""
    client = make_dynamodb_client()
    repo = DynamoDBUserRepository(client, "users-t")
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "get_item",
            service_error_code=code,
            service_message="secret=testing-secret-do-not-log",
            http_status_code=status,
        )
        with pytest.raises(raises) as info:
            repo.get("usr_1")
    return info.value


def test_a_validation_exception_is_an_internal_error_not_a_retryable_503(
    aws_env: None,
) -> None:
    error = get_answered("ValidationException", 400, InternalError)
    assert not isinstance(error, StoreUnavailable)
    assert "'users-t'" in error.message
    assert "ValidationException" in error.message
    assert "testing" not in error.message


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
    error = get_answered(code, status, StoreUnavailable)
    assert "'users-t'" in error.message
    assert words in error.message
    # The service's message stays out of ours (and so out of error bodies); the
    # library error is kept as the cause, for a traceback in the logs.
    assert "testing" not in str(error)
    assert all("testing" not in str(arg) for arg in error.args)
    assert isinstance(error.__cause__, ClientError)
    assert error.__cause__.response["Error"]["Code"] == code


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
