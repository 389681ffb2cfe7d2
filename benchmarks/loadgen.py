"""A loopback HTTP/1.1 load generator: ``connections`` keep-alive connections,
each sending one GET after another, until ``requests`` are answered or
``seconds`` have passed. Prints one JSON line: count, errors, rps, p50/p99 ms.

    python -m benchmarks.loadgen PORT PATH [--header 'Name: value'] ... [--cpu N]

Plain asyncio streams with a prebuilt request, so the client costs far less
per request than the server it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time


class Connection:
    """One keep-alive HTTP/1.1 connection: a prebuilt request in, the status
    and body out (responses must carry Content-Length). The soak benchmark
    drives ``serve`` with these too."""

    def __init__(
        self, streams: tuple[asyncio.StreamReader, asyncio.StreamWriter]
    ) -> None:
        self.reader, self.writer = streams

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return int(head[9:12]), await self.reader.readexactly(length)

    async def get(self, request: bytes) -> int:
        return (await self.exchange(request))[0]

    async def timed(
        self,
        request: bytes,
        budget: list[int],
        deadline: float,
        latencies: list[float],
        errors: list[int],
    ) -> None:
        while budget[0] > 0 and time.perf_counter() < deadline:
            budget[0] -= 1
            started = time.perf_counter()
            status = await self.get(request)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors[0] += 1


async def load(
    port: int,
    path: str,
    headers: list[str],
    connections: int,
    requests: int,
    seconds: float,
    warmup: int,
) -> dict[str, float]:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *headers]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    conns = [
        Connection(await asyncio.open_connection("127.0.0.1", port))
        for _ in range(connections)
    ]
    for _ in range(warmup):  # caches filled, connections open, then timing
        await asyncio.gather(*(conn.get(request) for conn in conns))
    latencies: list[float] = []
    errors = [0]
    budget = [requests]
    started = time.perf_counter()
    await asyncio.gather(
        *(
            conn.timed(request, budget, started + seconds, latencies, errors)
            for conn in conns
        )
    )
    elapsed = time.perf_counter() - started
    for conn in conns:
        conn.writer.close()
    latencies.sort()
    count = len(latencies)
    return {
        "count": count,
        "errors": errors[0],
        "rps": count / elapsed,
        "p50_ms": latencies[count // 2] * 1000,
        "p99_ms": latencies[min(count - 1, int(count * 0.99))] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("path")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--cpu", type=int, default=None, help="run pinned to this CPU (Linux)"
    )
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    result = asyncio.run(
        load(
            args.port,
            args.path,
            args.header,
            args.connections,
            args.requests,
            args.seconds,
            args.warmup,
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
