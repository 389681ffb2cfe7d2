"""Scale: 100,000 distinct users, each presenting its own token, in one thread
and in four processes.

    .venv/bin/python -m benchmarks scale
    WIKIBOT_BENCH_SCALE_USERS=20000 WIKIBOT_BENCH_SCALE_PROCESSES=2 \\
        .venv/bin/python -m benchmarks scale

The users live in an SQLite store (the default store; its schema made by the
repository, the rows written in one transaction to save minutes); each has a
token minted by the signer. ``authenticate(header)`` (the container's
defaults, wired as the container wires them: a token cache of 10,000, the
user cache off; then the user cache at 5 s, with its answers remembered per
token) first sees every token once in a random order (warm-up), then answers
``USERS`` requests, each for a token drawn uniformly at random: the worst
case for the caches (ten times more users than entries), so most requests
verify an RSA signature again.

One thread: this process. Four processes (``scale_processes``): each its own
caches over the same SQLite file, all warmed up, then answering a quarter of
the requests each at the same time, back to back (on a 2-core machine four
busy processes take turns on the CPUs), and once more paced at a steady rate
per process that leaves the CPUs room (``WIKIBOT_BENCH_SCALE_RATE``).

Reported: per-request latency p50/p99/p99.9 after the warm-up, every request
timed alone (``request_timing``), with what explains a tail: the share of
requests descheduled mid-call (wall time above the thread's CPU time), the CPU
time's own p99/p50, garbage-collector passes and involuntary context switches
during the timed requests. Memory per process (VmRSS, VmHWM) once the tokens
are loaded (the baseline: the load itself, 100,000 tokens), after the warm-up
and at the end, beside what the full caches hold: with bounded caches it stops
growing after the warm-up.
"""

from __future__ import annotations

import gc
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from benchmarks.bench_tokens import wired
from benchmarks.harness import record
from benchmarks.request_timing import (
    DESCHEDULED_US,
    Timings,
    memory_kib,
    retained_mib,
    time_requests,
)
from benchmarks.scale_processes import Job, Report, run_processes
from wikibot_auth.adapters.key_files import generate_private_key
from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.rs256 import RS256TokenSigner
from wikibot_auth.adapters.sqlite import SQLiteUserRepository
from wikibot_auth.adapters.system_clock import SystemClock
from wikibot_auth.adapters.user_cache import with_user_cache

USERS = int(os.environ.get("WIKIBOT_BENCH_SCALE_USERS", "100000"))
PROCESSES = int(os.environ.get("WIKIBOT_BENCH_SCALE_PROCESSES", "4"))
# Paced run: requests per second per process (4 x 1,000 x ~50 us: a fifth of
# one CPU).
RATE = float(os.environ.get("WIKIBOT_BENCH_SCALE_RATE", "1000"))
SEED = 14
MIB = 1024


def populate(path: Path, count: int, now: int) -> list[str]:
    """``count`` users in the store at ``path``; their ids."""
    repo = SQLiteUserRepository(path)
    repo.get("usr_probe")  # the repository makes its schema
    repo.close()
    ids = [f"usr_{i:032x}" for i in range(count)]
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO users (user_id, email, display_name, oauth_provider, "
            "oauth_provider_sub, tier, created_at, updated_at) "
            "VALUES (?, ?, ?, 'google', ?, 'free', ?, ?)",
            (
                (uid, f"user{i}@example.com", f"User {i}", str(i), now, now)
                for i, uid in enumerate(ids)
            ),
        )
        db.executemany(
            "INSERT INTO identities (provider, subject, user_id) "
            "VALUES ('google', ?, ?)",
            ((str(i), uid) for i, uid in enumerate(ids)),
        )
        db.execute("COMMIT")
    finally:
        db.close()
    return ids


def explain(timings: Timings) -> str:
    """What happened during the timed requests, beside the percentiles."""
    s = timings.summary()
    return (
        f"descheduled mid-call (wall - CPU > {DESCHEDULED_US:g} us): "
        f"{s['descheduled']:.2%} of requests; CPU time p50 {s['cpu_p50']:.1f}, "
        f"p99 {s['cpu_p99']:.1f} us (p99/p50 {s['cpu_p99'] / s['cpu_p50']:.2f}); "
        f"GC passes {timings.gc_passes} ({timings.gc_ms:.1f} ms); "
        f"involuntary context switches {timings.involuntary_switches:,}"
    )


def verdict(name: str, timings: Timings) -> str:
    s = timings.summary()
    ratio = s["p99"] / s["p50"]
    record(f"{name}, p99 / p50", ratio)
    record(f"{name}, p50 (us)", s["p50"], "us")
    record(f"{name}, p99 (us)", s["p99"], "us")
    mark = "met" if ratio <= 3 else "MISSED"
    return f"  target p99 at most 3x p50: {ratio:.2f} {mark}"


def row(label: str, timings: Timings) -> str:
    s = timings.summary()
    return (
        f"{label:<34} {s['p50']:>8.1f} {s['p99']:>8.1f} {s['p999']:>9.1f} "
        f"{s['p99'] / s['p50']:>8.2f} {s['hits']:>10.1%}"
    )


HEADER = (
    f"{'configuration':<34} {'p50 us':>8} {'p99 us':>8} {'p99.9 us':>9} "
    f"{'p99/p50':>8} {'token hits':>10}"
)


def one_thread(store: SQLiteUserRepository, ring: KeyRing, headers: list[str]) -> None:
    clock = SystemClock()
    rng = random.Random(SEED)
    print(f"\n## scale: {USERS:,} users, one token each, one thread, SQLite store")
    print(
        f"{HEADER} {'RSS MiB: load':>14} {'warm':>6} {'end':>6} {'peak':>6} "
        f"{'caches':>6}"
    )
    for ttl in (0.0, 5.0):
        gc.collect()
        load = memory_kib()
        signer = RS256TokenSigner(ring, clock)  # the default 10,000 entries
        users = with_user_cache(store, clock, ttl)
        authenticate = wired(signer, users, clock)
        for header in rng.sample(headers, len(headers)):  # warm-up
            authenticate(header)
        entries = signer._entries  # bench bookkeeping: is it a hit?
        assert entries is not None
        timings = time_requests(
            authenticate, headers, USERS, rng, cached=entries._items
        )
        warm, end = timings.memory_before, timings.memory_after
        caches = retained_mib(entries._items)
        user_entries = getattr(users, "_entries", None)
        if user_entries is not None:
            caches += retained_mib(user_entries._items)
        label = f"user cache {ttl:g} s, token cache {signer.cache_size:,}"
        print(
            f"{row(label, timings)} {load['VmRSS'] / MIB:>14.1f} "
            f"{warm['VmRSS'] / MIB:>6.1f} {end['VmRSS'] / MIB:>6.1f} "
            f"{end['VmHWM'] / MIB:>6.1f} {caches:>6.1f}"
        )
        name = f"scale {USERS}: user cache {ttl:g} s"
        growth = (end["VmRSS"] - warm["VmRSS"]) / MIB
        record(f"{name}, RSS growth after warm-up (MiB)", growth, "MiB")
        print(
            f"{verdict(name, timings)}; RSS after the warm-up {growth:+.1f} MiB by "
            f"the end; caches: {signer.cached_tokens():,} tokens"
            + ("" if user_entries is None else f", {len(user_entries):,} users")
        )
        print(f"  {explain(timings)}")
        del authenticate, users, signer, entries, user_entries, timings


def processes(db: Path, tokens: Path, public_keys: Path) -> None:
    print(
        f"\n## scale: {USERS:,} users, {PROCESSES} processes (each its own caches, "
        "the same SQLite file, all at once), every process warmed up on every token"
    )
    print(HEADER)
    share = USERS // PROCESSES
    configurations = [
        (0.0, None, "back to back"),
        (5.0, None, "back to back"),
        (0.0, 1 / RATE, f"{RATE:,.0f}/s each"),
    ]
    for ttl, interval, pace in configurations:
        jobs = [
            Job(i, db, tokens, public_keys, ttl, share, SEED + 1 + i, interval)
            for i in range(PROCESSES)
        ]
        started = time.perf_counter()
        reports = run_processes(jobs)
        elapsed = time.perf_counter() - started
        pooled = Timings.merged([r.timings for r in reports])
        label = f"user cache {ttl:g} s, {pace}"
        print(row(label, pooled))
        name = f"scale {USERS} x{PROCESSES} processes: user cache {ttl:g} s, {pace}"
        print(f"{verdict(name, pooled)} (over all {PROCESSES} processes' requests)")
        print(f"  {explain(pooled)}")
        print(f"  per process ({elapsed:.0f} s with the warm-up):")
        for report in reports:
            print(f"    {per_process(report)}")
        growth = max((r.end["VmRSS"] - r.warm["VmRSS"]) / MIB for r in reports)
        record(f"{name}, RSS growth after warm-up, largest (MiB)", growth, "MiB")
        peak = max((r.end["VmHWM"] - r.load["VmRSS"]) / MIB for r in reports)
        record(f"{name}, peak RSS above the load, largest (MiB)", peak, "MiB")


def per_process(report: Report) -> str:
    s = report.timings.summary()
    load, warm, end = (m["VmRSS"] / MIB for m in (report.load, report.warm, report.end))
    peak = report.end["VmHWM"] / MIB
    return (
        f"#{report.index}: p50 {s['p50']:.1f} p99 {s['p99']:.1f} us "
        f"(p99/p50 {s['p99'] / s['p50']:.2f}, descheduled {s['descheduled']:.1%}); "
        f"RSS MiB load {load:.1f}, warm {warm:.1f}, end {end:.1f}, peak {peak:.1f} "
        f"(+{peak - load:.1f} over the load; caches hold {report.caches_mib:.1f}: "
        f"{report.cached_tokens:,} tokens, {report.cached_users:,} users)"
    )


def run() -> None:
    clock = SystemClock()
    key = generate_private_key()
    ring = KeyRing.of_private_key(key)
    minting = RS256TokenSigner(ring, clock, cache_size=0)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        db = Path(tmp) / "users.db"
        ids = populate(db, USERS, int(clock.now()))
        headers = [f"Bearer {minting.create_token(uid)}" for uid in ids]
        tokens = Path(tmp) / "tokens.txt"
        with tokens.open("w", encoding="ascii") as lines:  # not one 60 MB string
            lines.writelines(f"{header}\n" for header in headers)
        public_keys = Path(tmp) / "public.pem"
        public_keys.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
        )
        print(
            f"\n(scale setup {time.perf_counter() - started:.0f} s: {USERS:,} users "
            "written, tokens minted)"
        )
        store = SQLiteUserRepository(db)
        one_thread(store, ring, headers)
        store.close()
        del headers
        if PROCESSES > 0:
            processes(db, tokens, public_keys)
