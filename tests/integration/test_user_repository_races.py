"""The ``UserRepository`` contract under concurrency, over every store: threads
racing on each, processes racing on the stores several processes share (SQLite
and DynamoDB on dynalite). One identity maps to one user, whatever the race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import workos_profile
from tests.factories import make_user
from tests.integration.store_helpers import Backend, login, process_race
from tests.threads import run_together
from wikibot_auth.domain.model import Identity

pytest_plugins = ["tests.integration.store_fixtures"]
pytestmark = pytest.mark.slow

THREADS = 32
THREAD_ROUNDS = 50
PROCESSES = 4
# Each process round is a few store round trips; 50 rounds x 4 processes keep
# the process races under a few seconds per store on a shared 2-core machine.
PROCESS_ROUNDS = 50


# -- races: threads on every store


def _thread_race(backend: Backend, profile_for_round: Callable[[int], Any]) -> None:
    store = backend.repo
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
    assert backend.raw.user_count() == THREAD_ROUNDS


def test_threads_racing_a_first_login_make_one_user(backend: Backend) -> None:
    _thread_race(
        backend,
        lambda r: workos_profile(
            workos_id=f"user_{r}", identity=Identity("google", f"g-{r}")
        ),
    )


def test_threads_racing_to_link_a_raw_identity_make_one_user(
    backend: Backend,
) -> None:
    store = backend.repo
    for r in range(THREAD_ROUNDS):
        login(store, workos_profile(workos_id=f"user_{r}", identity_lookup_failed=True))
    _thread_race(
        backend,
        lambda r: workos_profile(
            workos_id=f"user_{r}", identity=Identity("github", f"gh-{r}")
        ),
    )
    for r in range(THREAD_ROUNDS):
        user = store.find_by_identity(Identity("github", f"gh-{r}"))
        assert user == store.find_by_identity(Identity.workos(f"user_{r}"))
        assert user.oauth_provider == "github"


def test_mixed_race_alias_only_and_raw_logins_make_one_user(backend: Backend) -> None:
    """Half the logins lose the identities call (alias only), half do not."""
    store = backend.repo
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
    assert backend.raw.user_count() == THREAD_ROUNDS // 5


def test_threads_racing_to_sign_out_all_count(backend: Backend) -> None:
    """DESIGN: two racing sign-outs both count. Each call returns the record
    its own increment made, so the generations seen are exactly 1..N."""
    store = backend.repo
    store.create(make_user(), [Identity("google", "g-1")])
    barrier = threading.Barrier(THREADS)

    def revoke(i: int) -> int:
        barrier.wait()
        return int(store.revoke_tokens("usr_1", 1_800_000_000 + i).token_generation)

    with ThreadPoolExecutor(THREADS) as pool:
        seen = sorted(pool.map(revoke, range(THREADS)))
    assert seen == list(range(1, THREADS + 1))
    assert store.get("usr_1").token_generation == THREADS
    assert backend.raw.item("usr_1")["token_generation"] == THREADS


# -- races: processes on the stores several processes share


def test_processes_racing_a_first_login_make_one_user(
    process_backend: tuple[tuple[str, ...], Backend],
) -> None:
    spec, backend = process_backend
    profiles = [
        workos_profile(workos_id=f"p_{r}", identity=Identity("google", f"pg-{r}"))
        for r in range(PROCESS_ROUNDS)
    ]
    outcomes = [set(o) for o in process_race(spec, profiles, PROCESSES)]
    for outcome in outcomes:
        assert len(outcome) == 1, outcome
        assert next(iter(outcome)).startswith("usr_"), outcome
    assert backend.raw.user_count() == PROCESS_ROUNDS


def test_processes_racing_to_link_a_raw_identity_make_one_user(
    process_backend: tuple[tuple[str, ...], Backend],
) -> None:
    spec, backend = process_backend
    store = backend.repo
    for r in range(PROCESS_ROUNDS):
        login(store, workos_profile(workos_id=f"pl_{r}", identity_lookup_failed=True))
    profiles = [
        workos_profile(workos_id=f"pl_{r}", identity=Identity("github", f"pl-{r}"))
        for r in range(PROCESS_ROUNDS)
    ]
    outcomes = [set(o) for o in process_race(spec, profiles, PROCESSES)]
    for r, outcome in enumerate(outcomes):
        assert outcome == {store.find_by_identity(Identity.workos(f"pl_{r}")).user_id}
    assert backend.raw.user_count() == PROCESS_ROUNDS


def test_processes_racing_to_sign_out_all_count(
    process_backend: tuple[tuple[str, ...], Backend],
) -> None:
    spec, backend = process_backend
    backend.repo.create(make_user(), [Identity("google", "g-1")])
    rounds = [("revoke", "usr_1", 1_800_000_000)] * PROCESS_ROUNDS
    seen = sorted(
        g for outcome in process_race(spec, rounds, PROCESSES) for g in outcome
    )
    assert seen == list(range(1, PROCESSES * PROCESS_ROUNDS + 1))
    assert backend.repo.get("usr_1").token_generation == PROCESSES * PROCESS_ROUNDS


def test_threads_racing_to_move_one_identity_leave_it_with_one_user(
    backend: Backend,
) -> None:
    """The migration tools' move (a merge) is a conditional write: of racing
    moves of one identity to different users, one wins, and only the winner
    lists it among its identities."""
    store, targets, rounds = backend.repo, 8, 10
    for t in range(targets):
        store.create(make_user(f"usr_t{t}"), [Identity("github", f"t{t}")])
    for round_ in range(rounds):
        identity = Identity("google", f"moved-{round_}")
        store.create(make_user(f"usr_from{round_}"), [identity])
        owners: list[Any] = [None] * targets

        def move(
            t: int, identity: Identity = identity, owners: list[Any] = owners
        ) -> None:
            source = f"usr_from{identity.subject.removeprefix('moved-')}"
            owners[t] = store.move_identity(identity, source, f"usr_t{t}")

        run_together(targets, move)
        winner = store.find_by_identity(identity).user_id
        assert {o.user_id for o in owners} == {winner}, round_
        holders = [
            t
            for t in range(targets)
            if identity in store.get_with_identities(f"usr_t{t}").identities
        ]
        assert [f"usr_t{t}" for t in holders] == [winner]
        assert store.get_with_identities(f"usr_from{round_}").identities == ()
