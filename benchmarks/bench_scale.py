"""Scale: 100,000 distinct users, each presenting its own token, one thread.

    .venv/bin/python -m benchmarks scale
    WIKIBOT_BENCH_SCALE_USERS=20000 .venv/bin/python -m benchmarks scale

The users live in an SQLite store (the default store; its schema made by the
repository, the rows written in one transaction to save minutes); each has a
token minted by the signer. ``authenticate(header)`` (the container's
defaults: a token cache of 10,000, the user cache off; then the user cache at
5 s) first sees every token once in a random order (warm-up), then answers
``USERS`` requests, each for a token drawn uniformly at random: the worst
case for the caches (ten times more users than entries), so most requests
verify an RSA signature again. Reported: per-request latency p50/p99/p99.9
after warm-up, and the process's memory (VmRSS, VmHWM) once the tokens are
minted (the baseline: the load itself, 100,000 tokens), after the warm-up and
at the end: with bounded caches it stops growing after the warm-up.
"""

from __future__ import annotations

import array
import gc
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from benchmarks.harness import record
from wikibot_auth.adapters.key_files import generate_private_key
from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.rs256 import RS256TokenSigner
from wikibot_auth.adapters.sqlite import SQLiteUserRepository
from wikibot_auth.adapters.system_clock import SystemClock
from wikibot_auth.adapters.user_cache import with_user_cache
from wikibot_auth.domain.use_cases import Authenticate

USERS = int(os.environ.get("WIKIBOT_BENCH_SCALE_USERS", "100000"))
SEED = 14


def memory_kib() -> dict[str, int]:
    """VmRSS and VmHWM of this process (Linux /proc)."""
    found: dict[str, int] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":", 1)
                found[name] = int(value.split()[0])
    return found


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


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def run() -> None:
    clock = SystemClock()
    key = generate_private_key()
    ring = KeyRing.of_private_key(key)
    minting = RS256TokenSigner(ring, clock, cache_size=0)
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        ids = populate(Path(tmp) / "users.db", USERS, int(clock.now()))
        headers = [f"Bearer {minting.create_token(uid)}" for uid in ids]
        setup = time.perf_counter() - started
        store = SQLiteUserRepository(Path(tmp) / "users.db")
        print(
            f"\n## scale: {USERS:,} users, one token each, one thread, SQLite store "
            f"(setup {setup:.0f} s: users written, tokens minted)"
        )
        print(
            f"{'configuration':<32} {'p50 us':>8} {'p99 us':>8} {'p99.9 us':>9} "
            f"{'p99/p50':>8} {'token hits':>10} {'RSS MiB: load':>14} "
            f"{'warm':>6} {'end':>6} {'peak':>6}"
        )
        for ttl in (0.0, 5.0):
            gc.collect()
            baseline = memory_kib()
            signer = RS256TokenSigner(ring, clock)  # the default 10,000 entries
            users = with_user_cache(store, clock, ttl)
            authenticate = Authenticate(signer, users)
            for header in rng.sample(headers, len(headers)):  # warm-up
                authenticate(header)
            # The measurements' own memory, allocated before the snapshot.
            latencies = array.array("d", bytes(8 * USERS))
            warm = memory_kib()
            hits = 0
            entries = signer._entries  # bench bookkeeping: is it a hit?
            assert entries is not None
            for i in range(USERS):
                header = headers[rng.randrange(USERS)]
                hits += header[7:] in entries._items
                begin = time.perf_counter_ns()
                authenticate(header)
                latencies[i] = (time.perf_counter_ns() - begin) / 1000
            end = memory_kib()
            ordered = sorted(latencies)
            p50, p99 = percentile(ordered, 0.5), percentile(ordered, 0.99)
            label = f"user cache {ttl:g} s, token cache {signer.cache_size:,}"
            print(
                f"{label:<32} {p50:>8.1f} {p99:>8.1f} "
                f"{percentile(ordered, 0.999):>9.1f} {p99 / p50:>8.2f} "
                f"{hits / USERS:>10.1%} {baseline['VmRSS'] / 1024:>14.1f} "
                f"{warm['VmRSS'] / 1024:>6.1f} {end['VmRSS'] / 1024:>6.1f} "
                f"{end['VmHWM'] / 1024:>6.1f}"
            )
            record(f"scale {USERS}: user cache {ttl:g} s, p99 / p50", p99 / p50)
            record(f"scale {USERS}: user cache {ttl:g} s, p50 (us)", p50, "us")
            growth = (end["VmRSS"] - warm["VmRSS"]) / 1024
            record(
                f"scale {USERS}: user cache {ttl:g} s, RSS growth after warm-up (MiB)",
                growth,
                "MiB",
            )
            mark = "met" if p99 <= 3 * p50 else "MISSED"
            print(
                f"  target p99 at most 3x p50: {p99 / p50:.2f} {mark}; RSS after the "
                f"warm-up {growth:+.1f} MiB by the end; caches: "
                f"{signer.cached_tokens():,} tokens"
                + ("" if ttl == 0 else f", {len(users):,} users")  # type: ignore[arg-type]
            )
            del authenticate, users, signer, entries, latencies, ordered
        store.close()
