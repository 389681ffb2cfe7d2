"""One contract suite for the ``UserRepository`` port, over every store:
in-memory, SQLite (a temporary file), DynamoDB on moto and on dynalite."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from tests.conftest import workos_profile
from tests.integration.dynalite import dynalite_or_skip, free_port
from tests.integration.store_helpers import (
    AWS_TEST_ENV,
    login,
    race_worker,
)
from wikibot_auth.adapters.dynamodb import (
    DynamoDBUserRepository,
    identity_key,
    make_dynamodb_client,
)
from wikibot_auth.adapters.memory import InMemoryUserRepository
from wikibot_auth.adapters.sqlite import SQLiteUserRepository
from wikibot_auth.domain.errors import (
    InternalError,
    StoreUnavailable,
    UnknownUser,
    UserDisabled,
)
from wikibot_auth.domain.model import Identity, User
from wikibot_auth.entrypoints.cli import main
from wikibot_auth.entrypoints.containers import create_container

THREADS = 32
THREAD_ROUNDS = 50
PROCESSES = 4
# Each process round is a few store round trips; 50 rounds x 4 processes keep
# the process races under a few seconds per store on a shared 2-core machine.
PROCESS_ROUNDS = 50

_tables = itertools.count()
GOOGLE = Identity("google", "1234567890")


def _user(user_id: str = "usr_1", **changes: Any) -> User:
    values: dict[str, Any] = {
        "user_id": user_id,
        "email": "ada@example.com",
        "display_name": "Ada Lovelace",
        "oauth_provider": "google",
        "oauth_provider_sub": "g-1",
        "workos_user_id": "user_01",
        "created_at": 1_700_000_000,
        "updated_at": 1_700_000_000,
    }
    values.update(changes)
    return User(**values)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="session")
def dynalite() -> Iterator[str]:
    with dynalite_or_skip() as endpoint:
        yield endpoint


def _new_table() -> str:
    return f"users-{os.getpid()}-{next(_tables)}"


@pytest.fixture
def dynalite_store(
    dynalite: str, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> DynamoDBUserRepository:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynalite)
    repo = DynamoDBUserRepository(make_dynamodb_client(), _new_table())
    repo.create_table()
    return repo


class _AtomicCalls:
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
def moto_store(aws_env: None) -> Iterator[DynamoDBUserRepository]:
    with mock_aws():
        client = _AtomicCalls(make_dynamodb_client())
        repo = DynamoDBUserRepository(client, _new_table())
        repo.create_table()
        yield repo


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteUserRepository]:
    repo = SQLiteUserRepository(tmp_path / "db" / "users.db")
    yield repo
    repo.close()


@pytest.fixture(params=["memory", "sqlite", "moto", "dynalite"])
def store(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return InMemoryUserRepository()
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture(params=["moto", "dynalite"])
def dynamo_store(request: pytest.FixtureRequest) -> DynamoDBUserRepository:
    store: DynamoDBUserRepository = request.getfixturevalue(f"{request.param}_store")
    return store


@pytest.fixture(params=["sqlite", "dynalite"])
def process_store(request: pytest.FixtureRequest) -> tuple[tuple[str, ...], Any]:
    """A store several processes can open: its picklable spec and our handle."""
    if request.param == "sqlite":
        store: SQLiteUserRepository = request.getfixturevalue("sqlite_store")
        return ("sqlite", str(store.path)), store
    dynamo: DynamoDBUserRepository = request.getfixturevalue("dynalite_store")
    return ("dynamodb", request.getfixturevalue("dynalite"), dynamo.table), dynamo


# -- every port method


def test_create_then_get_and_find(store: Any) -> None:
    user = _user()
    google, alias = Identity("google", "g-1"), Identity.workos("user_01")
    assert store.create(user, [google, alias]) == (user, True)
    assert store.get("usr_1") == user
    assert store.find_by_identity(google) == user
    assert store.find_by_identity(alias) == user
    assert store.find_by_identity(Identity("github", "g-1")) is None
    assert store.get("usr_missing") is None


def test_get_cached_of_persistent_stores_is_a_miss(store: Any) -> None:
    store.create(_user(), [Identity("google", "g-1")])
    expected = _user() if isinstance(store, InMemoryUserRepository) else None
    assert store.get_cached("usr_1") == expected


def test_an_identity_maps_to_one_user(store: Any) -> None:
    google = Identity("google", "g-1")
    first = _user("usr_a")
    assert store.create(first, [google]) == (first, True)
    assert store.create(_user("usr_b"), [google]) == (first, False)
    # A later identity taken: the owner wins (DynamoDB also links the earlier
    # identity it had already claimed to that owner, see its module docstring).
    winner, created = store.create(_user("usr_c"), [Identity("x", "y"), google])
    assert (winner.user_id, created) == ("usr_a", False)
    assert store.get("usr_c") is None
    assert store.get("usr_b") is None
    assert store.user_count() == 1


def test_create_needs_an_identity(store: Any) -> None:
    with pytest.raises(ValueError, match="identity"):
        store.create(_user(), [])


def test_link_identity_records_the_provider(store: Any) -> None:
    alias = Identity.workos("user_01")
    store.create(_user(oauth_provider="workos", oauth_provider_sub="user_01"), [alias])
    github = Identity("github", "42")
    linked = store.link_identity("usr_1", github)
    assert (linked.oauth_provider, linked.oauth_provider_sub) == ("github", "42")
    assert store.find_by_identity(github) == linked == store.get("usr_1")
    assert store.link_identity("usr_1", github) == linked  # idempotent


def test_linking_the_alias_as_secondary_keeps_the_provider(store: Any) -> None:
    google = Identity("google", "g-1")
    store.create(_user(oauth_provider="google", oauth_provider_sub="g-1"), [google])
    alias = Identity.workos("user_01")
    linked = store.link_identity("usr_1", alias, primary=False)
    assert (linked.oauth_provider, linked.oauth_provider_sub) == ("google", "g-1")
    assert linked.workos_user_id == "user_01"
    assert store.find_by_identity(alias) == linked == store.get("usr_1")


def test_linking_a_secondary_non_workos_identity_changes_no_attribute(
    store: Any,
) -> None:
    google = Identity("google", "g-1")
    created, _ = store.create(
        _user(oauth_provider="google", oauth_provider_sub="g-1"), [google]
    )
    linked = store.link_identity("usr_1", Identity("github", "7"), primary=False)
    assert linked == created
    assert store.find_by_identity(Identity("github", "7")) == created


def test_link_identity_taken_by_another_user_returns_that_user(store: Any) -> None:
    github = Identity("github", "42")
    other = _user("usr_other", oauth_provider="github", oauth_provider_sub="42")
    store.create(other, [github])
    store.create(_user("usr_1"), [Identity.workos("user_01")])
    assert store.link_identity("usr_1", github) == other
    assert store.get("usr_1") == _user("usr_1")


def test_update_profile_sets_only_the_changes(store: Any) -> None:
    store.create(_user(), [Identity("google", "g-1")])
    updated = store.update_profile("usr_1", {"display_name": "Ada King"})
    assert updated == _user(display_name="Ada King") == store.get("usr_1")
    updated = store.update_profile("usr_1", {"email": "ada@king.example"})
    assert updated.email == "ada@king.example"
    assert updated.display_name == "Ada King"
    with pytest.raises(ValueError, match="tier"):
        store.update_profile("usr_1", {"tier": "pro"})


def test_tokens_valid_after_never_goes_down(store: Any) -> None:
    store.create(_user(), [Identity("google", "g-1")])
    assert store.set_tokens_valid_after("usr_1", 1_700_000_100).tokens_valid_after == (
        1_700_000_100
    )
    assert store.set_tokens_valid_after("usr_1", 1_700_000_050).tokens_valid_after == (
        1_700_000_100
    )
    assert store.get("usr_1").tokens_valid_after == 1_700_000_100
    assert store.set_tokens_valid_after("usr_1", 1_700_000_200).tokens_valid_after == (
        1_700_000_200
    )


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("not-a-number", 1_800_000_000),
        ("", 1_800_000_000),
        ("1900000000", 1_900_000_000),  # read as a number: never lowered
        ("1700000000", 1_800_000_000),
    ],
)
def test_sign_out_overwrites_a_tokens_valid_after_stored_as_a_string(
    store: Any, stored: str, expected: int
) -> None:
    """A console edit or a migration may leave a string: a sign-out must still
    take effect (DynamoDB's ``<`` never holds between a string and a number)."""
    store.put_raw_item({**_user().to_item(), "tokens_valid_after": stored})
    assert store.set_tokens_valid_after("usr_1", 1_800_000_000).tokens_valid_after == (
        expected
    )
    assert store.get("usr_1").tokens_valid_after == expected
    assert store.raw_item("usr_1")["tokens_valid_after"] == expected


def test_set_disabled_round_trips(store: Any) -> None:
    store.create(_user(), [Identity("google", "g-1")])
    assert store.set_disabled("usr_1", True).disabled is True
    assert store.get("usr_1").disabled is True
    assert store.set_disabled("usr_1", False).disabled is False
    assert store.get("usr_1").disabled is False


@pytest.mark.parametrize(
    "update",
    [
        lambda s: s.update_profile("usr_ghost", {"email": "x@example.com"}),
        lambda s: s.set_tokens_valid_after("usr_ghost", 5),
        lambda s: s.set_disabled("usr_ghost", True),
        lambda s: s.link_identity("usr_ghost", Identity("github", "1")),
    ],
    ids=["update_profile", "set_tokens_valid_after", "set_disabled", "link_identity"],
)
def test_updates_of_a_missing_user_raise_and_create_nothing(
    store: Any, update: Callable[[Any], Any]
) -> None:
    with pytest.raises(UnknownUser):
        update(store)
    assert store.get("usr_ghost") is None
    assert store.raw_item("usr_ghost") is None
    assert store.find_by_identity(Identity("github", "1")) is None
    assert store.user_count() == 0


def test_odd_values_round_trip_exactly(store: Any) -> None:
    user = _user(
        email="zoë.ünïcødé+tag@例え.jp",
        display_name='O\'Brien "Bob" `x`; DROP TABLE users; -- ' + "ñ" * 10_000,
        tokens_valid_after=1_700_000_123,
    )
    store.create(user, [Identity("google", "sub'\"#with#hashes")])
    got = store.get("usr_1")
    assert got == user
    assert store.find_by_identity(Identity("google", "sub'\"#with#hashes")) == user
    raw = store.raw_item("usr_1")
    for name in ("created_at", "updated_at", "tokens_valid_after"):
        assert type(raw[name]) is int
        assert type(getattr(got, name)) is int
    assert not any(isinstance(v, Decimal) for v in raw.values())


LONG = Identity("google", "s" * 10_000 + "ü")


def test_a_long_subject_round_trips(store: Any) -> None:
    """DynamoDB refuses hash keys over 2048 bytes: a 10 KB subject gets the
    digest key, and every store behaves the same."""
    first = login(store, workos_profile(identity=LONG))
    assert first.created
    again = login(store, workos_profile(identity=LONG))
    assert (again.user.user_id, again.created) == (first.user.user_id, False)
    assert store.find_by_identity(LONG) == again.user.record
    near = Identity("google", "s" * 10_000 + "u")
    assert store.find_by_identity(near) is None
    assert store.user_count() == 1


# -- logins through the real use case, and no clobbering


def test_second_login_resolves_to_the_same_user(store: Any) -> None:
    first = login(store, workos_profile())
    second = login(store, workos_profile())
    assert (first.created, second.created) == (True, False)
    assert first.user.user_id == second.user.user_id
    assert store.user_count() == 1


def test_login_never_clobbers_what_it_does_not_own(store: Any) -> None:
    user_id = login(store, workos_profile()).user.user_id
    item = store.raw_item(user_id)
    item.update(
        {"favourite_colour": "teal", "tier": "pro", "disabled": True, "notes": "vip"}
    )
    store.put_raw_item(item)
    with pytest.raises(UserDisabled):
        login(store, workos_profile(first_name="Augusta"))
    assert store.raw_item(user_id) == item  # a refused login wrote nothing

    item.update({"disabled": False, "tokens_valid_after": 1_700_000_500})
    store.put_raw_item(item)
    result = login(store, workos_profile(first_name="Augusta"))
    after = store.raw_item(user_id)
    assert result.user.display_name == "Augusta Lovelace"
    assert after == {**item, "display_name": "Augusta Lovelace"}


def test_alias_only_user_gets_the_raw_identity_linked(store: Any) -> None:
    first = login(store, workos_profile(identity_lookup_failed=True))
    assert first.user.record.oauth_provider == "workos"
    second = login(store, workos_profile())
    assert second.user.user_id == first.user.user_id
    assert (
        second.user.record.oauth_provider,
        second.user.record.oauth_provider_sub,
    ) == (
        "google",
        "1234567890",
    )
    assert store.find_by_identity(Identity("google", "1234567890")) is not None
    assert store.user_count() == 1


# -- races: threads on every store


def _thread_race(store: Any, profile_for_round: Callable[[int], Any]) -> None:
    with ThreadPoolExecutor(THREADS) as pool:
        for round_ in range(THREAD_ROUNDS):
            profile = profile_for_round(round_)
            barrier = threading.Barrier(THREADS)

            def one(
                profile: Any = profile, barrier: threading.Barrier = barrier
            ) -> str:
                barrier.wait()
                return login(store, profile).user.user_id

            ids = list(pool.map(lambda _: one(), range(THREADS)))
            assert len(set(ids)) == 1, f"round {round_}: {len(set(ids))} users"
            assert store.find_by_identity(profile.alias).user_id == ids[0]
    assert store.user_count() == THREAD_ROUNDS


@pytest.mark.slow
def test_threads_racing_a_first_login_make_one_user(store: Any) -> None:
    _thread_race(
        store,
        lambda r: workos_profile(
            workos_id=f"user_{r}", identity=Identity("google", f"g-{r}")
        ),
    )


@pytest.mark.slow
def test_threads_racing_to_link_a_raw_identity_make_one_user(store: Any) -> None:
    for r in range(THREAD_ROUNDS):
        login(store, workos_profile(workos_id=f"user_{r}", identity_lookup_failed=True))
    _thread_race(
        store,
        lambda r: workos_profile(
            workos_id=f"user_{r}", identity=Identity("github", f"gh-{r}")
        ),
    )
    for r in range(THREAD_ROUNDS):
        user = store.find_by_identity(Identity("github", f"gh-{r}"))
        assert user == store.find_by_identity(Identity.workos(f"user_{r}"))
        assert user.oauth_provider == "github"


@pytest.mark.slow
def test_mixed_race_alias_only_and_raw_logins_make_one_user(store: Any) -> None:
    """Half the logins lose the identities call (alias only), half do not."""
    with ThreadPoolExecutor(THREADS) as pool:
        for r in range(THREAD_ROUNDS // 5):
            raw = Identity("google", f"mixed-{r}")
            barrier = threading.Barrier(THREADS)

            def one(i: int, r: int = r, raw: Identity = raw, b: Any = barrier) -> str:
                profile = workos_profile(
                    workos_id=f"mix_{r}",
                    identity=raw,
                    identity_lookup_failed=i % 2 == 0,
                )
                b.wait()
                return login(store, profile).user.user_id

            ids = set(pool.map(one, range(THREADS)))
            assert len(ids) == 1
            # The raw identity may be left for the next login to link (memory,
            # SQLite) or already linked (DynamoDB): either way, one user.
            later = login(store, workos_profile(workos_id=f"mix_{r}", identity=raw))
            assert later.user.user_id in ids
            assert store.find_by_identity(raw).user_id in ids
            assert store.find_by_identity(Identity.workos(f"mix_{r}")).user_id in ids
    assert store.user_count() == THREAD_ROUNDS // 5


# -- races: processes on the stores several processes share


def _process_race(spec: tuple[str, ...], profiles: list[Any]) -> list[set[str]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    tasks = [context.Queue() for _ in range(PROCESSES)]
    results = context.Queue()
    workers = [
        context.Process(target=race_worker, args=(spec, barrier, q, results))
        for q in tasks
    ]
    for worker in workers:
        worker.start()
    try:
        outcomes = []
        for profile in profiles:
            for q in tasks:
                q.put(profile)
            outcomes.append({results.get(timeout=60) for _ in range(PROCESSES)})
        return outcomes
    finally:
        for q in tasks:
            q.put(None)
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():  # pragma: no cover
                worker.kill()


@pytest.mark.slow
def test_processes_racing_a_first_login_make_one_user(
    process_store: tuple[tuple[str, ...], Any],
) -> None:
    spec, store = process_store
    profiles = [
        workos_profile(workos_id=f"p_{r}", identity=Identity("google", f"pg-{r}"))
        for r in range(PROCESS_ROUNDS)
    ]
    outcomes = _process_race(spec, profiles)
    for outcome in outcomes:
        assert len(outcome) == 1, outcome
        assert next(iter(outcome)).startswith("usr_"), outcome
    assert store.user_count() == PROCESS_ROUNDS


@pytest.mark.slow
def test_processes_racing_to_link_a_raw_identity_make_one_user(
    process_store: tuple[tuple[str, ...], Any],
) -> None:
    spec, store = process_store
    for r in range(PROCESS_ROUNDS):
        login(store, workos_profile(workos_id=f"pl_{r}", identity_lookup_failed=True))
    profiles = [
        workos_profile(workos_id=f"pl_{r}", identity=Identity("github", f"pl-{r}"))
        for r in range(PROCESS_ROUNDS)
    ]
    outcomes = _process_race(spec, profiles)
    for r, outcome in enumerate(outcomes):
        assert outcome == {store.find_by_identity(Identity.workos(f"pl_{r}")).user_id}
    assert store.user_count() == PROCESS_ROUNDS


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


def _crash_login(store: DynamoDBUserRepository, puts: int, **profile: Any) -> str:
    crashing = DynamoDBUserRepository(_CrashAfterPuts(store._client, puts), store.table)
    with pytest.raises(SystemExit):
        login(crashing, workos_profile(**profile))
    assert store.user_count() == 0
    claim = store.raw_identity_item(profile.get("identity", GOOGLE))
    assert claim is not None
    return str(claim["user_id"])


@pytest.mark.parametrize("puts", [1, 2], ids=["after-raw-claim", "after-alias"])
def test_a_crash_between_the_writes_is_completed_by_the_next_login(
    dynamo_store: DynamoDBUserRepository, puts: int
) -> None:
    pending_id = _crash_login(dynamo_store, puts)
    result = login(dynamo_store, workos_profile())
    assert (result.user.user_id, result.created) == (pending_id, False)
    assert login(dynamo_store, workos_profile()).user.user_id == pending_id
    alias_only = login(dynamo_store, workos_profile(identity_lookup_failed=True))
    assert alias_only.user.user_id == pending_id
    assert dynamo_store.user_count() == 1
    assert "pending" in dynamo_store.raw_identity_item(GOOGLE)  # kept: harmless


@pytest.mark.parametrize("puts", [1, 2], ids=["after-raw-claim", "after-alias"])
def test_an_alias_only_login_after_a_crash_never_makes_two_users(
    dynamo_store: DynamoDBUserRepository, puts: int
) -> None:
    _crash_login(dynamo_store, puts)
    first = login(dynamo_store, workos_profile(identity_lookup_failed=True))
    again = login(dynamo_store, workos_profile())
    assert again.user.user_id == first.user.user_id
    assert dynamo_store.find_by_identity(GOOGLE) == again.user.record
    assert dynamo_store.find_by_identity(Identity.workos("user_01ABC")) == (
        again.user.record
    )
    assert dynamo_store.user_count() == 1


def test_readers_completing_a_crashed_create_at_once_make_one_user_item(
    dynamo_store: DynamoDBUserRepository,
) -> None:
    for r in range(10):
        crashing = DynamoDBUserRepository(
            _CrashAfterPuts(dynamo_store._client, 1), dynamo_store.table
        )
        raw = Identity("google", f"crash-{r}")
        with pytest.raises(SystemExit):
            login(crashing, workos_profile(workos_id=f"c_{r}", identity=raw))
        barrier = threading.Barrier(8)

        def read(_: int, raw: Identity = raw, barrier: Any = barrier) -> str:
            barrier.wait()
            user = dynamo_store.find_by_identity(raw)
            assert user is not None
            return user.user_id

        with ThreadPoolExecutor(8) as pool:
            assert len(set(pool.map(read, range(8)))) == 1
        assert dynamo_store.user_count() == r + 1


def test_a_crash_after_a_long_claim_is_completed_by_a_reader(
    dynamo_store: DynamoDBUserRepository,
) -> None:
    pending_id = _crash_login(dynamo_store, 1, identity=LONG)
    claim = dynamo_store.raw_identity_item(LONG)
    assert claim["pk"].startswith("IDENTITY-SHA256#google#")
    assert (claim["provider"], claim["subject"]) == ("google", LONG.subject)
    found = dynamo_store.find_by_identity(LONG)
    assert found is not None
    assert found.user_id == pending_id
    assert login(dynamo_store, workos_profile(identity=LONG)).user.user_id == pending_id
    assert dynamo_store.user_count() == 1


def test_a_long_secondary_identity_is_claimed_by_the_completing_reader(
    dynamo_store: DynamoDBUserRepository,
) -> None:
    crashing = DynamoDBUserRepository(
        _CrashAfterPuts(dynamo_store._client, 1), dynamo_store.table
    )
    with pytest.raises(SystemExit):
        crashing.create(_user(), [GOOGLE, LONG])
    assert dynamo_store.raw_identity_item(LONG) is None
    assert dynamo_store.find_by_identity(GOOGLE).user_id == "usr_1"
    claim = dynamo_store.raw_identity_item(LONG)
    assert (claim["user_id"], claim["subject"]) == ("usr_1", LONG.subject)
    assert dynamo_store.find_by_identity(LONG).user_id == "usr_1"


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
    dynamo_store: DynamoDBUserRepository,
) -> None:
    """link_identity writes the identity item, then the user update fails:
    the login answers store_unavailable, and the next one finishes the link."""
    alias_only = login(dynamo_store, workos_profile(identity_lookup_failed=True))
    user_id = alias_only.user.user_id
    failing = DynamoDBUserRepository(
        _FailingUpdates(dynamo_store._client), dynamo_store.table
    )
    with pytest.raises(StoreUnavailable, match="InternalServerError"):
        failing.link_identity(user_id, GOOGLE)
    assert dynamo_store.raw_identity_item(GOOGLE)["user_id"] == user_id
    assert dynamo_store.get(user_id).oauth_provider == "workos"  # not yet linked
    with pytest.raises(StoreUnavailable):
        login(failing, workos_profile())
    again = login(dynamo_store, workos_profile())
    assert (again.user.user_id, again.created) == (user_id, False)
    linked = dynamo_store.get(user_id)
    assert (linked.oauth_provider, linked.oauth_provider_sub) == (
        "google",
        "1234567890",
    )
    assert dynamo_store.user_count() == 1


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
    dynamo_store: DynamoDBUserRepository,
) -> None:
    # A login crashed after claiming the raw identity; meanwhile a login whose
    # identities call failed created an alias-only user.
    crashing = DynamoDBUserRepository(
        _CrashAfterPuts(dynamo_store._client, 1), dynamo_store.table
    )
    with pytest.raises(SystemExit):
        login(crashing, workos_profile())
    alias_only = dynamo_store.create(
        _user("usr_alias", oauth_provider="workos", oauth_provider_sub="user_01ABC"),
        [Identity.workos("user_01ABC")],
    )
    assert alias_only[1] is True
    found = dynamo_store.find_by_identity(Identity("google", "1234567890"))
    assert found is not None
    assert found.user_id == "usr_alias"
    assert (found.oauth_provider, found.oauth_provider_sub) == ("google", "1234567890")
    assert dynamo_store.user_count() == 1
    assert "pending" not in dynamo_store.raw_identity_item(
        Identity("google", "1234567890")
    )


def test_dynamodb_item_shape(dynamo_store: DynamoDBUserRepository) -> None:
    result = login(dynamo_store, workos_profile())
    user_id = result.user.user_id
    client = dynamo_store._client
    item = client.get_item(
        TableName=dynamo_store.table,
        Key={"pk": {"S": f"USER#{user_id}"}},
        ConsistentRead=True,
    )["Item"]
    assert item["user_id"] == {"S": user_id}
    assert item["oauth_provider"] == {"S": "google"}
    assert item["workos_user_id"] == {"S": "user_01ABC"}
    assert item["tokens_valid_after"] == {"N": "0"}
    assert item["disabled"] == {"BOOL": False}
    identity = client.get_item(
        TableName=dynamo_store.table,
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


# -- SQLite specifics


def test_sqlite_schema_is_versioned_and_in_wal_mode(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "nested" / "dir" / "users.db"
    repo = SQLiteUserRepository(path)
    assert repo.user_count() == 0
    repo.close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone() == (1,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        db.execute("PRAGMA user_version = 99")
        db.commit()
    finally:
        db.close()
    with pytest.raises(StoreUnavailable, match="schema version 99"):
        SQLiteUserRepository(path).get("usr_1")


def test_sqlite_unreadable_file_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "users.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreUnavailable, match=r"users\.db"):
        SQLiteUserRepository(path).get("usr_1")


# -- the container and the CLI


def test_container_selects_the_store_from_the_url(
    tmp_path: Path, aws_env: None
) -> None:
    container = create_container(
        {"WIKIBOT_AUTH_DATA_DIR": str(tmp_path / "data")}, idp="none"
    )
    repo = container.user_repository()
    assert isinstance(repo, SQLiteUserRepository)
    assert repo.path == tmp_path / "data" / "users.db"
    assert repo.user_count() == 0
    assert (tmp_path / "data" / "users.db").exists()

    container = create_container({"WIKIBOT_AUTH_USER_STORE": "dynamodb://tbl"})
    repo = container.user_repository()
    assert isinstance(repo, DynamoDBUserRepository)
    assert repo.table == "tbl"
    assert container.dynamodb_client() is container.dynamodb_client()
    assert repo._client is container.dynamodb_client()


def test_relative_sqlite_url_stays_relative() -> None:
    container = create_container({"WIKIBOT_AUTH_USER_STORE": "sqlite:///rel/u.db"})
    assert container.config.store_location() == "rel/u.db"
    container = create_container({"WIKIBOT_AUTH_USER_STORE": "sqlite:////abs/u.db"})
    assert container.config.store_location() == "/abs/u.db"


def test_cli_creates_the_table_on_dynalite(
    dynalite: str,
    aws_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynalite)
    table = _new_table()
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
    import subprocess
    import sys

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
    from wikibot_auth.domain.errors import NotConfigured

    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    container = create_container({"WIKIBOT_AUTH_USER_STORE": "dynamodb://t"})
    with pytest.raises(NotConfigured, match="AWS_DEFAULT_REGION"):
        container.user_repository()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")
def test_a_forked_child_opens_its_own_sqlite_connection(tmp_path: Path) -> None:
    repo = SQLiteUserRepository(tmp_path / "users.db")
    repo.create(_user("usr_parent"), [Identity("google", "parent")])
    context = multiprocessing.get_context("fork")
    results = context.Queue()

    def child() -> None:
        created = repo.create(_user("usr_child"), [Identity("google", "child")])
        results.put((created[1], repo.user_count()))

    process = context.Process(target=child)
    process.start()
    assert results.get(timeout=30) == (True, 2)
    process.join(timeout=30)
    assert repo.find_by_identity(Identity("google", "child")).user_id == "usr_child"
    repo.close()
