"""Fixtures for the user store tests (a plugin their modules load with
``pytest_plugins``): every store, with raw access to what it holds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from tests.integration.dynalite import dynalite_or_skip
from tests.integration.store_helpers import (
    AWS_TEST_ENV,
    STORE_NOW,
    Backend,
    RawAccess,
    dynamodb_backend,
    memory_backend,
    new_table,
    sqlite_backend,
)
from wikibot_auth.adapters.dynamodb import make_dynamodb_client
from wikibot_auth.adapters.dynamodb_table import DynamoDBTable
from wikibot_auth.adapters.memory import FixedClock


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="session")
def dynalite() -> Iterator[str]:
    """A dynalite server for the session: its endpoint URL."""
    with dynalite_or_skip() as endpoint:
        yield endpoint


class AtomicCalls:
    """moto checks a condition and writes the item without a lock, so two
    threads can both win one ``attribute_not_exists`` put (seen in the mixed
    race). DynamoDB makes every single-item call atomic: so does this proxy,
    by running each call under one lock; calls of different threads still
    interleave freely between calls, which is what the races exercise."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name == "get_waiter":
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return call


@pytest.fixture
def store_clock() -> FixedClock:
    """The clock of the stores under test: their writes set ``updated_at``
    from it (STORE_NOW unless a test moves it)."""
    return FixedClock(STORE_NOW)


@pytest.fixture
def memory_store_backend(store_clock: FixedClock) -> Backend:
    return memory_backend(store_clock)


@pytest.fixture
def sqlite_store_backend(tmp_path: Path, store_clock: FixedClock) -> Iterator[Backend]:
    backend = sqlite_backend(tmp_path / "db" / "users.db", store_clock)
    yield backend
    backend.repo.close()


@pytest.fixture
def moto_store_backend(aws_env: None, store_clock: FixedClock) -> Iterator[Backend]:
    with mock_aws():
        client, table = AtomicCalls(make_dynamodb_client()), new_table()
        DynamoDBTable(client, table).create()
        yield dynamodb_backend("moto", client, table, store_clock)


@pytest.fixture
def dynalite_store_backend(
    dynalite: str,
    aws_env: None,
    monkeypatch: pytest.MonkeyPatch,
    store_clock: FixedClock,
) -> Backend:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynalite)
    client, table = make_dynamodb_client(), new_table()
    DynamoDBTable(client, table).create()
    return dynamodb_backend("dynalite", client, table, store_clock)


@pytest.fixture(params=["memory", "sqlite", "moto", "dynalite"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each store in turn (the contract suite runs over all of them)."""
    chosen: Backend = request.getfixturevalue(f"{request.param}_store_backend")
    return chosen


@pytest.fixture
def store(backend: Backend) -> Any:
    return backend.repo


@pytest.fixture
def raw(backend: Backend) -> RawAccess:
    return backend.raw


@pytest.fixture(params=["moto", "dynalite"])
def dynamo_backend(request: pytest.FixtureRequest) -> Backend:
    chosen: Backend = request.getfixturevalue(f"{request.param}_store_backend")
    return chosen


@pytest.fixture(params=["sqlite", "dynalite"])
def process_backend(request: pytest.FixtureRequest) -> tuple[tuple[str, ...], Backend]:
    """A store several processes can open: its picklable spec and our handle."""
    chosen: Backend = request.getfixturevalue(f"{request.param}_store_backend")
    if request.param == "sqlite":
        return ("sqlite", str(chosen.repo.path)), chosen
    endpoint = request.getfixturevalue("dynalite")
    return ("dynamodb", endpoint, chosen.repo.table), chosen
