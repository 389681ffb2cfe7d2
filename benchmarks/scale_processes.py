"""The scale section's processes: the same users served by several processes.

Each process (``multiprocessing``'s spawn: a fresh interpreter, so its memory
is its own) reads every user's token from a file, verifies with the public key
alone (as a deployed authorizer does) and reads users from the one SQLite
file; it has its own token cache and user cache, as a worker of a
multi-process server does. All of them warm up (every token once, each in its
own order), wait for each other, then answer their share of the requests at
the same time, each for a user drawn uniformly from all of them: a listening
socket shared by workers hands any user to any worker.
"""

from __future__ import annotations

import multiprocessing
import queue
import random
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from benchmarks.bench_tokens import wired
from benchmarks.request_timing import Timings, memory_kib, retained_mib, time_requests
from wikibot_auth.adapters.key_files import load_public_keys
from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.rs256 import RS256TokenSigner
from wikibot_auth.adapters.sqlite import SQLiteUserRepository
from wikibot_auth.adapters.system_clock import SystemClock
from wikibot_auth.adapters.user_cache import with_user_cache

BARRIER_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Job:
    """What one process does; the paths are the parent's temporary files."""

    index: int
    store: Path
    tokens: Path  # one "Bearer ..." header per line
    public_keys: Path
    user_cache_ttl: float
    requests: int
    seed: int
    interval_s: float | None = None  # None: back to back


@dataclass
class Report:
    """What one process sends back: its timings and its memory (KiB)."""

    index: int
    timings: Timings
    load: dict[str, int]
    warm: dict[str, int]
    end: dict[str, int]
    cached_tokens: int
    cached_users: int
    caches_mib: float


def serve_requests(job: Job, barrier: Barrier, reports: Any) -> None:
    """A worker process: warm up, wait for the others, answer, report."""
    with job.tokens.open(encoding="ascii") as lines:  # not one 60 MB string
        headers = [line.rstrip("\n") for line in lines]
    ring = KeyRing.build(public_keys=load_public_keys(job.public_keys.read_text()))
    clock = SystemClock()
    store = SQLiteUserRepository(job.store)
    signer = RS256TokenSigner(ring, clock)  # the default 10,000 entries
    users = with_user_cache(store, clock, job.user_cache_ttl)
    authenticate = wired(signer, users, clock)
    rng = random.Random(job.seed)
    load = memory_kib()
    barrier.wait(BARRIER_TIMEOUT_S)
    for header in rng.sample(headers, len(headers)):  # warm-up
        authenticate(header)
    entries = signer._entries  # bench bookkeeping: is it a hit?
    assert entries is not None
    barrier.wait(BARRIER_TIMEOUT_S)  # all warm: the timed requests overlap
    timings = time_requests(
        authenticate,
        headers,
        job.requests,
        rng,
        cached=entries._items,
        interval_s=job.interval_s,
    )
    user_entries = getattr(users, "_entries", None)
    caches = retained_mib(entries._items)
    if user_entries is not None:
        caches += retained_mib(user_entries._items)
    reports.put(
        Report(
            job.index,
            timings,
            load,
            timings.memory_before,
            timings.memory_after,
            cached_tokens=signer.cached_tokens(),
            cached_users=0 if user_entries is None else len(user_entries),
            caches_mib=caches,
        )
    )
    store.close()


def run_processes(jobs: list[Job]) -> list[Report]:
    """Run ``jobs``, one process each, at the same time; their reports."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(jobs))
    reports = context.Queue()
    processes = [
        context.Process(target=serve_requests, args=(job, barrier, reports))
        for job in jobs
    ]
    for process in processes:
        process.start()
    found: list[Report] = []
    try:
        while len(found) < len(jobs):
            try:
                found.append(reports.get(timeout=1.0))
            except queue.Empty:
                failed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
                if failed:
                    barrier.abort()  # the others stop waiting for it
                    raise RuntimeError(
                        f"a scale process exited with {failed[0]}"
                    ) from None
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.terminate()
                process.join()
    return sorted(found, key=lambda report: report.index)
