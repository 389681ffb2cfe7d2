"""Time budgets of store calls: a DynamoDB endpoint that accepts connections
and never answers must not hold the Lambda authorizer past its 5 s budget."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.store_helpers import AWS_TEST_ENV
from tests.integration.test_lambda import load, public_keys_file
from tests.integration.web import web_env
from wikibot_auth.adapters.dynamodb import DynamoDBUserRepository
from wikibot_auth.domain.errors import StoreUnavailable
from wikibot_auth.domain.model import Identity
from wikibot_auth.entrypoints import aws_lambda
from wikibot_auth.entrypoints.aws_lambda import AuthorizerFailure
from wikibot_auth.entrypoints.containers import create_container

AUTHORIZER_BUDGET_S = 5.0


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An HTTP endpoint on 127.0.0.1 that accepts every connection and never
    answers (held open until the test ends)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for connection in held:
        connection.close()
    listener.close()


@pytest.fixture
def lambda_authorizer_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    private_key: Any,
    silent_endpoint: str,
) -> Iterator[str]:
    """The template's authorizer configuration, its table behind ``silent_endpoint``;
    yields a valid token."""
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", silent_endpoint)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "wikibot-auth-authorizer")
    monkeypatch.setenv("WIKIBOT_AUTH_ENV", "production")
    monkeypatch.setenv(
        "WIKIBOT_AUTH_PUBLIC_KEYS_FILE", str(public_keys_file(tmp_path, private_key))
    )
    monkeypatch.setenv("WIKIBOT_AUTH_USER_STORE", "dynamodb://users")
    signer = create_container(web_env(tmp_path, private_key)).token_signer()
    token = signer.create_token("usr_ada")
    aws_lambda.configure(None)
    yield token
    aws_lambda.configure(None)


def test_the_lambda_authorizer_gives_up_on_a_silent_store_within_its_budget(
    lambda_authorizer_env: str,
) -> None:
    event = load("rest_token_authorizer", lambda_authorizer_env)
    started = time.monotonic()
    with pytest.raises(AuthorizerFailure, match="store_unavailable"):
        aws_lambda.authorizer(event, None)
    elapsed = time.monotonic() - started
    # 2 attempts x 1 s read timeout (+ <= 25 ms backoff); the default client
    # (3 x 3 s) took 9.1 s here.
    assert 1.9 <= elapsed < AUTHORIZER_BUDGET_S, elapsed


def test_both_lambda_functions_use_the_tight_client(
    lambda_authorizer_env: str,
) -> None:
    config = aws_lambda.get_container().dynamodb_client().meta.config
    assert (config.connect_timeout, config.read_timeout) == (1, 1)
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}


def test_the_lambda_client_on_a_silent_store_raises_store_unavailable(
    lambda_authorizer_env: str,
) -> None:
    client = aws_lambda.get_container().dynamodb_client()
    repo = DynamoDBUserRepository(client, "users")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="'users'") as info:
        repo.find_by_identity(Identity("google", "1"))
    assert time.monotonic() - started < AUTHORIZER_BUDGET_S
    assert "Timeout" in info.value.message
    assert info.value.__cause__ is not None
