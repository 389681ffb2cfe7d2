"""Soak: ``wikibot-auth serve`` under a steady request rate for ten minutes;
does its memory stay put once warm?

    .venv/bin/python -m benchmarks soak        # 10 minutes; never part of a
                                               # plain `python -m benchmarks`
    WIKIBOT_BENCH_SOAK_SECONDS=120 WIKIBOT_BENCH_SOAK_RATE=500 \\
        .venv/bin/python -m benchmarks soak

The real server, as an operator starts it: ``wikibot-auth serve`` in a process
of its own on a free 127.0.0.1 port, on its embedded defaults (development,
the SQLite store and a signing key generated in its data directory, the local
sign-in page, the user cache off); the only setting is
``WIKIBOT_AUTH_DATA_DIR``, a temporary directory whose ``users.db`` the
benchmark fills beforehand (``USERS`` users, 100,000 by default). Once the
server is up the benchmark reads the key it generated and mints every user a
token, plus pools of bad ones.

Then, for ``SECONDS``, it sends ``RATE`` requests a second on a fixed
schedule (open loop: request i is due at i / RATE, whatever the answers to
the earlier ones; each is timed from when it was due) over keep-alive
connections: ``GET /me`` with a token of a user drawn uniformly (ten times more
users than the token cache holds, so the cache keeps turning over), with a
token whose signature was altered, an expired one, one for an unknown user, a
header that is no JWT, or no credentials; and now and then a whole login
through the local sign-in page (four requests, a token signed). Every answer
is checked: the status and, for a refusal, the error code.

The server's memory (VmRSS, VmHWM; ``/proc/PID/status``) and CPU time are
sampled every ``SAMPLE_SECONDS``. Reported: RSS at the end of the warm-up
(``WARMUP_SECONDS``, 60 s by default: the token cache is full by then) and at
the end of the run, the growth between them (target: at most 5 MiB), the
largest RSS after the warm-up, and the trend over the samples after it.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.bench_scale import populate
from benchmarks.harness import record
from benchmarks.request_timing import percentile
from benchmarks.soak_driver import Answer, Load, Sample, drive
from tests.integration.server import clean_environ, serve_process
from wikibot_auth.adapters.key_files import load_private_key
from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.memory import FixedClock
from wikibot_auth.adapters.rs256 import RS256TokenSigner
from wikibot_auth.adapters.system_clock import SystemClock

SECONDS = float(os.environ.get("WIKIBOT_BENCH_SOAK_SECONDS", "600"))
RATE = float(os.environ.get("WIKIBOT_BENCH_SOAK_RATE", "300"))
USERS = int(os.environ.get("WIKIBOT_BENCH_SOAK_USERS", "100000"))
WARMUP_SECONDS = float(
    os.environ.get("WIKIBOT_BENCH_SOAK_WARMUP_SECONDS", str(min(60.0, SECONDS / 2)))
)
SAMPLE_SECONDS = float(
    os.environ.get("WIKIBOT_BENCH_SOAK_SAMPLE_SECONDS", str(min(5.0, SECONDS / 10)))
)
LIMIT_MIB = 5.0
BAD_TOKENS = 1000  # of each kind
SEED = 14
MIB = 1024


def altered(token: str) -> str:
    """``token`` with one character of its signature changed (in the middle:
    the last character may carry only padding bits)."""
    head, signature = token.rsplit(".", 1)
    i = len(signature) // 2
    swapped = "A" if signature[i] != "A" else "B"
    return f"{head}.{signature[:i]}{swapped}{signature[i + 1 :]}"


def mint(data_dir: Path, user_ids: list[str]) -> dict[str, list[str]]:
    """The tokens of every kind the load sends, by kind (the key is the one
    ``serve`` generated)."""
    pem = (data_dir / "signing-key.pem").read_text(encoding="ascii")
    ring = KeyRing.of_private_key(load_private_key(pem))
    now = SystemClock()
    signer = RS256TokenSigner(ring, now, cache_size=0)
    stale = RS256TokenSigner(ring, FixedClock(now.now() - 3 * 86400), cache_size=0)
    valid = [signer.create_token(uid) for uid in user_ids]
    rng = random.Random(SEED)
    return {
        "valid": valid,
        "altered": [altered(rng.choice(valid)) for _ in range(BAD_TOKENS)],
        "expired": [
            stale.create_token(rng.choice(user_ids)) for _ in range(BAD_TOKENS)
        ],
        "unknown user": [
            signer.create_token(f"usr_unknown_{i:024x}") for i in range(BAD_TOKENS)
        ],
        "not a JWT": [f"not-a-jwt-{i}" for i in range(BAD_TOKENS)],
    }


def run() -> None:
    if SECONDS <= 0 or RATE <= 0 or not 0 < WARMUP_SECONDS < SECONDS:
        raise SystemExit("soak: SECONDS and RATE > 0, 0 < WARMUP_SECONDS < SECONDS")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data_dir = tmp / "data"
        data_dir.mkdir(mode=0o700)
        started = time.perf_counter()
        user_ids = populate(data_dir / "users.db", USERS, int(time.time()))
        environ = clean_environ(WIKIBOT_AUTH_DATA_DIR=str(data_dir))
        with serve_process(tmp, environ) as (base, output, process):
            tokens = mint(data_dir, user_ids)
            del user_ids
            setup = time.perf_counter() - started
            print(
                f"\n## soak: wikibot-auth serve (pid {process.pid}, {base}, SQLite "
                f"store of {USERS:,} users, embedded defaults), {RATE:g} requests/s "
                f"for {SECONDS:g} s (setup {setup:.0f} s); RSS sampled every "
                f"{SAMPLE_SECONDS:g} s, warm-up {WARMUP_SECONDS:g} s",
                flush=True,
            )
            load = Load(
                port=int(base.rsplit(":", 1)[1]),
                pid=process.pid,
                tokens=tokens,
                rate=RATE,
                seconds=SECONDS,
                sample_seconds=SAMPLE_SECONDS,
                seed=SEED,
            )
            samples, answers = asyncio.run(drive(load))
            if process.poll() is not None:
                raise RuntimeError(f"serve exited: {output.read_text()[-2000:]}")
        report(samples, answers)


def report(samples: list[Sample], answers: list[Answer]) -> None:
    warm = next(s for s in samples if s.at >= WARMUP_SECONDS)
    end = samples[-1]
    after = [s for s in samples if s.at >= warm.at]
    growth = (end.rss - warm.rss) / MIB
    highest = max(s.rss for s in after)
    slope = _slope_mib_per_minute(after)
    print(
        f"{'t s':>6} {'RSS MiB':>8} {'peak MiB':>9} {'threads':>7} {'CPU':>5} "
        f"{'answered':>9}"
    )
    every = 60.0 if SECONDS >= 300 else SAMPLE_SECONDS  # a line a minute
    shown = [s for s in samples if s.at % every < SAMPLE_SECONDS / 2 or s is warm]
    previous = samples[0]
    for sample in [*shown, end] if shown[-1] is not end else shown:
        span = sample.at - previous.at
        busy = (sample.cpu - previous.cpu) / span if span > 0 else 0.0
        print(
            f"{sample.at:>6.0f} {sample.rss / MIB:>8.1f} {sample.hwm / MIB:>9.1f} "
            f"{sample.threads:>7} {busy:>5.0%} {sample.answered:>9,}"
        )
        previous = sample
    kinds = Counter(a.kind for a in answers)
    wrong = Counter(a.kind for a in answers if not a.ok)
    print("requests by kind (unexpected answers):")
    for kind, count in kinds.most_common():
        print(f"  {kind:<16} {count:>9,} ({wrong[kind]:,})")
    latencies = sorted(a.seconds * 1000 for a in answers if a.kind != "login")
    logins = sorted(a.seconds * 1000 for a in answers if a.kind == "login")
    rate = len(answers) / (end.at or 1)
    print(
        f"answered {len(answers):,} ({rate:,.0f} a second); /me from due time to "
        f"answer: p50 {percentile(latencies, 0.5):.2f} ms, p99 "
        f"{percentile(latencies, 0.99):.2f} ms; a login (4 requests): p50 "
        + (f"{statistics.median(logins):.1f} ms" if logins else "-")
        + f"; server CPU {end.cpu / max(len(answers), 1) * 1e6:.0f} us per request"
    )
    mark = "met" if growth <= LIMIT_MIB and not sum(wrong.values()) else "MISSED"
    print(
        f"target RSS growth after the warm-up at most {LIMIT_MIB:g} MiB: "
        f"{warm.rss / MIB:.1f} MiB at {warm.at:.0f} s -> {end.rss / MIB:.1f} MiB at "
        f"{end.at:.0f} s: {growth:+.1f} MiB {mark} (highest after the warm-up "
        f"{highest / MIB:.1f} MiB; trend {slope:+.2f} MiB a minute; "
        f"{sum(wrong.values()):,} unexpected answers)"
    )
    record("soak: RSS at the end of the warm-up (MiB)", warm.rss / MIB, "MiB")
    record("soak: RSS at the end (MiB)", end.rss / MIB, "MiB")
    record("soak: RSS growth after the warm-up (MiB)", growth, "MiB")


def _slope_mib_per_minute(samples: list[Sample]) -> float:
    if len(samples) < 2:
        return 0.0
    xs = [s.at for s in samples]
    ys = [s.rss / MIB for s in samples]
    return statistics.linear_regression(xs, ys).slope * 60
