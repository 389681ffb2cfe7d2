"""ASGI throughput: one trivial route under uvicorn, with and without
``AuthMiddleware``, in the same run.

    .venv/bin/python -m benchmarks asgi

Two uvicorn processes on 127.0.0.1 (one worker each, access log off) serve
``benchmarks.asgi_apps``: ``bare_app`` and ``middleware_app`` (the container's
``authenticate`` on SQLite, ``WIKIBOT_AUTH_USER_CACHE_TTL=5``, the token
required). A separate load-generator process (``benchmarks.loadgen``) drives
one of them at a time, alternating, with keep-alive connections and a bounded
number of requests and time; the same requests to both, with the same valid
token on every request, so after
warm-up the token cache and the user cache answer. The figure per server is the
median over the rounds. Afterwards the middleware app reports how many user
reads reached the store: each one is an ``asyncio.to_thread`` hop.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from benchmarks.bench_tokens import profile
from benchmarks.harness import Bench
from tests.integration.dynalite import free_port, stop
from wikibot_auth.adapters.key_files import generate_private_key, write_private_key
from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.rs256 import RS256TokenSigner
from wikibot_auth.adapters.sqlite import SQLiteUserRepository
from wikibot_auth.adapters.system_clock import SystemClock
from wikibot_auth.domain.model import User

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 5
CONNECTIONS = 16
REQUESTS = 10_000
SECONDS = 5.0
START_TIMEOUT_S = 20.0


@contextmanager
def uvicorn(factory: str, env: dict[str, str]) -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"benchmarks.asgi_apps:{factory}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1)
                break
            except urllib.error.HTTPError:
                break  # it answered (401 without a token)
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn {factory} did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        stop(process)


def load(port: int, headers: list[str]) -> dict[str, float]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.loadgen",
        str(port),
        "/ping",
        "--connections",
        str(CONNECTIONS),
        "--requests",
        str(REQUESTS),
        "--seconds",
        str(SECONDS),
    ]
    for header in headers:
        command += ["--header", header]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    result: dict[str, float] = json.loads(done.stdout)
    if result["errors"]:
        raise RuntimeError(f"{result['errors']} requests were not answered 200")
    return result


def in_process(env: dict[str, str], token: str) -> None:
    """The same two apps called in-process with one scope: the middleware's
    own cost per request, without sockets or HTTP parsing."""
    import asyncio

    from benchmarks import asgi_apps
    from tests.integration.web import get_scope

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        apps = {
            "bare route": asgi_apps.bare_app(),
            "with AuthMiddleware": asgi_apps.middleware_app(),
        }
    finally:
        os.environ.clear()
        os.environ.update(saved)
    loop = asyncio.new_event_loop()

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(int(message["status"]))  # type: ignore[call-overload]

    def call(app: object, headers: list[tuple[bytes, bytes]]) -> None:
        scope = get_scope("/ping", headers, ("127.0.0.1", 80))
        loop.run_until_complete(app(scope, receive, send))  # type: ignore[operator]
        if statuses.pop() != 200:
            raise RuntimeError("the in-process request was not answered 200")

    auth = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())]
    # the same headers to both, as over the socket
    bench = Bench(
        "the same apps in-process (one event loop, no sockets)", floor="bare route"
    )
    bench.add("bare route", lambda: call(apps["bare route"], auth))
    bench.add("with AuthMiddleware", lambda: call(apps["with AuthMiddleware"], auth))
    bench.run()
    loop.close()
    print(bench.table())
    print(
        f"  AuthMiddleware's own cost (token and user cached): "
        f"{bench.median('with AuthMiddleware') - bench.median('bare route'):.1f} us per request"
    )


def run() -> None:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        key = generate_private_key()
        write_private_key(tmp / "private.pem", key)  # 0600: no warning
        clock = SystemClock()
        user = User.new("usr_bench", profile(), int(clock.now()))
        store = SQLiteUserRepository(str(tmp / "users.db"))
        store.create(user, [profile().alias])
        store.close()
        token = RS256TokenSigner(KeyRing.of_private_key(key), clock).create_token(
            user.user_id
        )
        env = {
            **os.environ,
            "WIKIBOT_AUTH_PRIVATE_KEY_FILE": str(tmp / "private.pem"),
            "WIKIBOT_AUTH_USER_STORE": f"sqlite:///{tmp / 'users.db'}",
            "WIKIBOT_AUTH_USER_CACHE_TTL": "5",
            "WIKIBOT_AUTH_DATA_DIR": str(tmp),
        }
        # The same requests to both (the token header too): the difference is
        # the middleware, not uvicorn parsing a longer request.
        headers = [f"Authorization: Bearer {token}"]
        servers = {
            "bare route": (stack.enter_context(uvicorn("bare_app", env)), headers),
            "with AuthMiddleware": (
                stack.enter_context(uvicorn("middleware_app", env)),
                headers,
            ),
        }
        results: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
        started = time.perf_counter()
        for _ in range(ROUNDS):
            for name, (port, headers) in servers.items():
                results[name].append(load(port, headers))
        wall = time.perf_counter() - started
        mw_port = servers["with AuthMiddleware"][0]
        with urllib.request.urlopen(f"http://127.0.0.1:{mw_port}/_reads") as answer:
            reads = int(answer.read())
        in_process(env, token)
    print(
        f"\n## ASGI under uvicorn (1 worker, h11, 127.0.0.1), {CONNECTIONS} keep-alive "
        f"connections, at most {REQUESTS:,} requests or {SECONDS:g} s per round, "
        f"{ROUNDS} rounds, median"
    )
    print(
        f"{'server':<22} {'requests/s':>11} {'min-max':>13} {'p50 ms':>7} {'p99 ms':>7}"
    )
    rps: dict[str, float] = {}
    for name, rounds in results.items():
        rps[name] = statistics.median(r["rps"] for r in rounds)
        lo = min(r["rps"] for r in rounds)
        hi = max(r["rps"] for r in rounds)
        p50 = statistics.median(r["p50_ms"] for r in rounds)
        p99 = statistics.median(r["p99_ms"] for r in rounds)
        print(
            f"{name:<22} {rps[name]:>11,.0f} {f'{lo:,.0f}-{hi:,.0f}':>13} {p50:>7.2f} {p99:>7.2f}"
        )
    ratio = rps["with AuthMiddleware"] / rps["bare route"]
    mark = "met" if ratio >= 0.85 else "MISSED"
    print(f"target middleware / bare throughput: {ratio:.3f} (at least 0.85) {mark}")
    served = sum(r["count"] for r in results["with AuthMiddleware"])
    print(
        f"  user reads that reached the store (= to_thread hops): {reads} "
        f"over {served:,} timed requests and warm-up in {wall:.0f} s "
        f"(user cache 5 s: each expiry lets through the requests already in flight, at most one per connection)"
    )
