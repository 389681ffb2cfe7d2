"""Helpers for the user store tests and benchmarks: stores built from a
picklable spec (so that worker processes can open the same store), a login that
runs the real ``ExchangeAuthCode`` use case, the race workers, and raw access to
what each store holds (as an operator editing it by hand would see it)."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import attrs

from wikibot_auth.adapters.dynamodb import (
    DynamoDBUserRepository,
    identity_key,
    make_dynamodb_client,
    user_key,
)
from wikibot_auth.adapters.dynamodb_table import DynamoDBTable, plain
from wikibot_auth.adapters.memory import FixedClock, InMemoryUserRepository
from wikibot_auth.adapters.sqlite import SQLiteUserRepository
from wikibot_auth.domain.model import Identity, IdentityProfile, LoginResult
from wikibot_auth.domain.use_cases import ExchangeAuthCode

VERIFIER = "v" * 43
# The time of the stores under test (store_fixtures' ``store_clock``): apart
# from the logins' 1_700_000_000, so that a test sees which clock wrote what.
STORE_NOW = 1_750_000_000

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-do-not-log",
    "AWS_SESSION_TOKEN": "testing-session",
    "AWS_DEFAULT_REGION": "us-east-1",
}


_tables = itertools.count()


def new_table() -> str:
    """A table name no other test of this run uses."""
    return f"users-{os.getpid()}-{next(_tables)}"


class NullSigner:
    """A ``TokenSigner`` that signs nothing: the store is under test here."""

    token_ttl = 60

    def create_token(self, subject: str, *, generation: int = 0) -> str:
        return f"token-for-{subject}"

    def validate_token(self, token: str) -> Any:
        raise NotImplementedError

    def jwks(self) -> Mapping[str, Any]:
        return {"keys": []}


class FixedIdP:
    """An ``IdentityProvider`` whose every code logs in ``profile``."""

    def __init__(self, profile: IdentityProfile) -> None:
        self.profile = profile

    def authorization_url(self, *args: Any, **kwargs: Any) -> str:
        return "https://idp.invalid/authorize"

    def exchange_code(self, *args: Any, **kwargs: Any) -> IdentityProfile:
        return self.profile


def login(
    repo: Any, profile: IdentityProfile, now: float = 1_700_000_000
) -> LoginResult:
    """One login of ``profile`` through the real use case."""
    exchange = ExchangeAuthCode(FixedIdP(profile), repo, NullSigner(), FixedClock(now))  # type: ignore[arg-type]
    return exchange("code", VERIFIER)


def open_store(spec: tuple[str, ...]) -> Any:
    """``("sqlite", path)`` or ``("dynamodb", endpoint, table)``."""
    if spec[0] == "sqlite":
        return SQLiteUserRepository(spec[1])
    if spec[0] == "dynamodb":
        os.environ.update(AWS_TEST_ENV)
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = spec[1]
        return DynamoDBUserRepository(make_dynamodb_client(), spec[2])
    raise ValueError(spec[0])


def race_worker(spec: tuple[str, ...], barrier: Any, tasks: Any, results: Any) -> None:
    """A process that runs each task as soon as every worker is ready (the
    barrier) and reports its outcome: a profile is logged in (the user id it
    got), a ``("revoke", user_id, now)`` signs that user out everywhere (the
    generation it got)."""
    repo = open_store(spec)
    while True:
        task = tasks.get()
        if task is None:
            return
        barrier.wait()
        try:
            if isinstance(task, tuple):
                _, user_id, now = task
                results.put(repo.revoke_tokens(user_id, now).token_generation)
            else:
                results.put(login(repo, task).user.user_id)
        except Exception as exc:
            results.put(f"error: {type(exc).__name__}: {exc}")


def process_race(
    spec: tuple[str, ...], rounds: list[Any], processes: int
) -> list[list[Any]]:
    """Run each round's task in ``processes`` worker processes at once (see
    ``race_worker``); the outcomes of each round, in no particular order."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    tasks = [context.Queue() for _ in range(processes)]
    results = context.Queue()
    workers = [
        context.Process(target=race_worker, args=(spec, barrier, q, results))
        for q in tasks
    ]
    for worker in workers:
        worker.start()
    try:
        outcomes = []
        for task in rounds:
            for q in tasks:
                q.put(task)
            outcomes.append([results.get(timeout=60) for _ in range(processes)])
        return outcomes
    finally:
        for q in tasks:
            q.put(None)
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():  # pragma: no cover
                worker.kill()


# -- raw access: what a store holds, read and written around the adapter


class RawAccess(Protocol):
    """A store's records as stored (attributes the library does not know
    included), for tests that play an operator editing the store by hand."""

    def item(self, user_id: str) -> dict[str, Any] | None: ...

    def put(self, item: Mapping[str, Any]) -> None: ...

    def user_count(self) -> int: ...


@attrs.frozen
class Backend:
    """One store under test, raw access to what it holds, and the clock its
    writes read ``updated_at`` from."""

    name: str
    repo: Any
    raw: RawAccess
    clock: FixedClock


class MemoryRaw:
    def __init__(self, repo: InMemoryUserRepository) -> None:
        self._repo = repo

    def item(self, user_id: str) -> dict[str, Any] | None:
        return self._repo.raw_item(user_id)

    def put(self, item: Mapping[str, Any]) -> None:
        self._repo.put_raw_item(item)

    def user_count(self) -> int:
        return self._repo.user_count()


class SQLiteRaw:
    """The SQLite file through a connection of its own: the known attributes
    in their columns, the others in the ``extra`` JSON object."""

    def __init__(self, repo: SQLiteUserRepository) -> None:
        self._repo = repo

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self._repo.get("usr_schema_probe")  # the store creates its schema first
        db = sqlite3.connect(self._repo.path, timeout=10, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    def item(self, user_id: str) -> dict[str, Any] | None:
        with self._db() as db:
            row = db.execute(
                "SELECT * FROM users WHERE user_id = ?", (user_id,)
            ).fetchone()
        if row is None:
            return None
        item: dict[str, Any] = json.loads(row["extra"])
        item.update({k: row[k] for k in row.keys() if k != "extra"})
        item["disabled"] = bool(item["disabled"])
        return {k: v for k, v in item.items() if v is not None}

    def put(self, item: Mapping[str, Any]) -> None:
        with self._db() as db:
            columns = {row["name"] for row in db.execute("PRAGMA table_info(users)")}
            known = {k: v for k, v in item.items() if k in columns}
            if "disabled" in known:
                known["disabled"] = 1 if known["disabled"] else 0
            known["extra"] = json.dumps(
                {k: v for k, v in item.items() if k not in columns}
            )
            db.execute(
                f"INSERT OR REPLACE INTO users ({', '.join(known)}) "  # noqa: S608
                f"VALUES ({', '.join('?' for _ in known)})",
                list(known.values()),
            )

    def user_count(self) -> int:
        with self._db() as db:
            return int(db.execute("SELECT count(*) FROM users").fetchone()[0])

    def identity_count(self) -> int:
        with self._db() as db:
            return int(db.execute("SELECT count(*) FROM identities").fetchone()[0])


class DynamoDBRaw:
    """The table through the same client, item by item (without ``pk``)."""

    def __init__(self, client: Any, table: str) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self.client = client
        self.table = table
        self._serialize = TypeSerializer().serialize
        self._deserialize = TypeDeserializer().deserialize

    def _get(self, pk: str) -> dict[str, Any] | None:
        item = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return {k: plain(self._deserialize(v)) for k, v in item.items()}

    def _put(self, pk: str, item: Mapping[str, Any]) -> None:
        # boto3 takes no floats: a number that is not whole goes as a Decimal.
        values = {
            k: Decimal(str(v)) if isinstance(v, float) else v for k, v in item.items()
        }
        values["pk"] = pk
        self.client.put_item(
            TableName=self.table,
            Item={k: self._serialize(v) for k, v in values.items()},
        )

    def item(self, user_id: str) -> dict[str, Any] | None:
        item = self._get(user_key(user_id))
        if item is not None:
            del item["pk"]
        return item

    def put(self, item: Mapping[str, Any]) -> None:
        self._put(user_key(str(item["user_id"])), item)

    def identity_item(self, identity: Identity) -> dict[str, Any] | None:
        """The identity's item as stored, ``pk`` included."""
        return self._get(identity_key(identity))

    def put_identity_item(self, identity: Identity, item: Mapping[str, Any]) -> None:
        self._put(identity_key(identity), item)

    def user_count(self) -> int:
        return DynamoDBTable(self.client, self.table).user_count()


def memory_backend(clock: FixedClock) -> Backend:
    repo = InMemoryUserRepository(clock=clock)
    return Backend("memory", repo, MemoryRaw(repo), clock)


def sqlite_backend(path: Path, clock: FixedClock) -> Backend:
    repo = SQLiteUserRepository(path, clock=clock)
    return Backend("sqlite", repo, SQLiteRaw(repo), clock)


def dynamodb_backend(name: str, client: Any, table: str, clock: FixedClock) -> Backend:
    repo = DynamoDBUserRepository(client, table, clock=clock)
    return Backend(name, repo, DynamoDBRaw(client, table), clock)
