"""The soak's load: requests on a fixed schedule, every answer checked, and the
server process's memory sampled meanwhile (see ``bench_soak``)."""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from benchmarks.loadgen import Connection
from tests.integration.web import log_in

CONNECTIONS = 8
LOGIN_WORKERS = 2
LOGIN_EMAILS = 100  # the same local users log in again and again
# kind: (share of the requests, the error code expected; None: a 200)
KINDS: dict[str, tuple[float, str | None]] = {
    "valid": (0.92, None),
    "altered": (0.02, "invalid_token"),
    "expired": (0.01, "token_expired"),
    "unknown user": (0.01, "unknown_user"),
    "not a JWT": (0.01, "invalid_token"),
    "no credentials": (0.02, "missing_token"),
    "login": (0.01, None),
}


@dataclass(frozen=True)
class Load:
    port: int
    pid: int  # the server's, for its memory
    tokens: dict[str, list[str]]  # by kind
    rate: float  # requests a second
    seconds: float
    sample_seconds: float
    seed: int


@dataclass(frozen=True)
class Answer:
    kind: str
    seconds: float  # from when it was due to the answer
    ok: bool  # the expected status and error code


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the load started
    rss: int  # KiB
    hwm: int  # KiB
    threads: int
    cpu: float  # the server's CPU seconds since the load started
    answered: int


def process_status(pid: int) -> tuple[int, int, int, float]:
    """VmRSS, VmHWM (KiB), threads and CPU seconds of a process (Linux)."""
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM", "Threads"):
                found[name] = int(value.split()[0])
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found["VmRSS"], found["VmHWM"], found["Threads"], cpu


def _request(port: int, token: str | None) -> bytes:
    lines = ["GET /me HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def _picker(load: Load) -> Callable[[], tuple[str, bytes | None]]:
    rng = random.Random(load.seed)
    names = list(KINDS)
    weights = [KINDS[name][0] for name in names]

    def pick() -> tuple[str, bytes | None]:
        kind = rng.choices(names, weights)[0]
        if kind == "login":
            return kind, None
        pool = load.tokens.get(kind)
        return kind, _request(load.port, None if pool is None else rng.choice(pool))

    return pick


def _expected(kind: str, status: int, body: bytes) -> bool:
    code = KINDS[kind][1]
    if code is None:
        return status == 200
    try:
        return status == 401 and json.loads(body).get("error") == code
    except ValueError:
        return False


class _Run:
    def __init__(self, load: Load) -> None:
        self.load = load
        self.answers: list[Answer] = []
        self.samples: list[Sample] = []
        self.requests: asyncio.Queue[tuple[float, str, bytes] | None] = asyncio.Queue()
        self.logins: asyncio.Queue[tuple[float, int] | None] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.start = 0.0
        self.cpu_at_start = 0.0

    async def connect(self) -> Connection:
        return Connection(await asyncio.open_connection("127.0.0.1", self.load.port))

    async def requester(self) -> None:
        connection = await self.connect()
        while (item := await self.requests.get()) is not None:
            due, kind, request = item
            try:
                status, body = await connection.exchange(request)
            except (ConnectionError, asyncio.IncompleteReadError):
                # The server closed an idle keep-alive connection: again, on a
                # new one (the request never reached the app).
                connection.writer.close()
                connection = await self.connect()
                status, body = await connection.exchange(request)
            ok = _expected(kind, status, body)
            self.answers.append(Answer(kind, self.loop.time() - due, ok))
        connection.writer.close()

    async def login_worker(self) -> None:
        base = f"http://127.0.0.1:{self.load.port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            while (item := await self.logins.get()) is not None:
                due, number = item
                try:
                    body = await log_in(
                        client, f"soak{number % LOGIN_EMAILS}@example.com"
                    )
                    ok = isinstance(body.get("token"), str)
                except (AssertionError, httpx.HTTPError, ValueError):
                    ok = False
                self.answers.append(Answer("login", self.loop.time() - due, ok))

    async def schedule(self) -> None:
        pick = _picker(self.load)
        total = int(self.load.seconds * self.load.rate)
        for i in range(total):
            due = self.start + i / self.load.rate
            delay = due - self.loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            kind, request = pick()
            if request is None:
                self.logins.put_nowait((due, i))
            else:
                self.requests.put_nowait((due, kind, request))

    async def sampler(self, stop: asyncio.Event) -> None:
        tick = 0
        while True:
            self.sample()
            tick += 1
            delay = self.start + tick * self.load.sample_seconds - self.loop.time()
            try:
                await asyncio.wait_for(stop.wait(), max(0.0, delay))
                return
            except TimeoutError:
                pass

    def sample(self) -> None:
        rss, hwm, threads, cpu = process_status(self.load.pid)
        at = self.loop.time() - self.start
        self.samples.append(
            Sample(at, rss, hwm, threads, cpu - self.cpu_at_start, len(self.answers))
        )
        if (
            self.load.seconds >= 300
            and len(self.samples) % max(1, round(60 / self.load.sample_seconds)) == 1
        ):
            print(
                f"  {at:>5.0f} s: RSS {rss / 1024:.1f} MiB, {len(self.answers):,} "
                "answered",
                flush=True,
            )


async def drive(load: Load) -> tuple[list[Sample], list[Answer]]:
    """Send ``load`` to the server; the memory samples and every answer."""
    run = _Run(load)
    run.cpu_at_start = process_status(load.pid)[3]
    run.start = run.loop.time()
    stop = asyncio.Event()
    sampler = asyncio.create_task(run.sampler(stop))
    workers = [asyncio.create_task(run.requester()) for _ in range(CONNECTIONS)]
    logins = [asyncio.create_task(run.login_worker()) for _ in range(LOGIN_WORKERS)]
    await run.schedule()
    for _ in workers:
        run.requests.put_nowait(None)
    for _ in logins:
        run.logins.put_nowait(None)
    await asyncio.gather(*workers, *logins)
    stop.set()
    await sampler
    run.sample()  # at the end of the load
    return run.samples, run.answers
