"""Per-request latency for the scale section, with what it takes to read it.

Each request is timed alone (``perf_counter_ns`` around the one call: batches
would average a pause away). Around that, the thread's own CPU time
(``thread_time_ns``, outside the wall-clock pair so its cost, about 1 us a call
on a VM, is not in the wall figure) tells a request that was slow from one that
was descheduled: wall minus CPU above ``DESCHEDULED_US`` means the thread was
off the CPU (another process ran) for part of the call. Garbage-collector
passes during the timed requests (``gc.callbacks``) and the thread's
involuntary context switches (``getrusage``) are counted too. None of this
changes which requests count: the percentiles are over every timed request.
"""

from __future__ import annotations

import array
import gc
import random
import resource
import sys
import time
import types
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field

DESCHEDULED_US = 20.0


def memory_kib(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and VmHWM of a process, KiB (Linux /proc)."""
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":", 1)
                found[name] = int(value.split()[0])
    return found


def percentile(ordered: Sequence[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


@dataclass
class Timings:
    """One batch of timed requests (or several merged), microseconds."""

    wall: array.array[float]
    cpu: array.array[float]
    hits: int = 0
    gc_passes: int = 0
    gc_ms: float = 0.0
    involuntary_switches: int = 0
    # VmRSS/VmHWM right before the first timed call (this batch's own buffers
    # allocated) and after the last one; empty when merged.
    memory_before: dict[str, int] = field(default_factory=dict)
    memory_after: dict[str, int] = field(default_factory=dict)

    @classmethod
    def merged(cls, parts: Sequence[Timings]) -> Timings:
        wall: array.array[float] = array.array("d")
        cpu: array.array[float] = array.array("d")
        for part in parts:
            wall.extend(part.wall)
            cpu.extend(part.cpu)
        return cls(
            wall,
            cpu,
            hits=sum(p.hits for p in parts),
            gc_passes=sum(p.gc_passes for p in parts),
            gc_ms=sum(p.gc_ms for p in parts),
            involuntary_switches=sum(p.involuntary_switches for p in parts),
        )

    def summary(self) -> dict[str, float]:
        wall = sorted(self.wall)
        cpu = sorted(self.cpu)
        descheduled = sum(
            1
            for w, c in zip(self.wall, self.cpu, strict=True)
            if w - c > DESCHEDULED_US
        )
        p50 = percentile(wall, 0.5)
        return {
            "p50": p50,
            "p99": percentile(wall, 0.99),
            "p999": percentile(wall, 0.999),
            "cpu_p50": percentile(cpu, 0.5),
            "cpu_p99": percentile(cpu, 0.99),
            "descheduled": descheduled / len(wall),
            "hits": self.hits / len(wall),
        }


def time_requests(
    call: Callable[[str], object],
    headers: Sequence[str],
    count: int,
    rng: random.Random,
    *,
    cached: Container[str] | None = None,
    interval_s: float | None = None,
) -> Timings:
    """``count`` calls, each for a header drawn uniformly from ``headers``.
    ``cached`` (the token cache's keys) counts the hits; ``interval_s`` paces the
    calls (call i is due ``i * interval_s`` after the first; the thread sleeps
    while it is early), else they run back to back."""
    wall = array.array("d", bytes(8 * count))
    cpu = array.array("d", bytes(8 * count))
    picks = array.array("q", (rng.randrange(len(headers)) for _ in range(count)))
    hits = 0
    passes: list[int] = []
    started = [0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter_ns()
        else:
            passes.append(time.perf_counter_ns() - started[0])

    thread_time, perf = time.thread_time_ns, time.perf_counter_ns
    memory_before = memory_kib()
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw
    gc.callbacks.append(on_gc)
    try:
        first = time.perf_counter()
        for i, pick in enumerate(picks):
            header = headers[pick]
            if cached is not None:
                hits += header[7:] in cached
            if interval_s is not None:
                early = first + i * interval_s - time.perf_counter()
                if early > 0:
                    time.sleep(early)
            cpu_start = thread_time()
            begin = perf()
            call(header)
            end = perf()
            cpu_end = thread_time()
            wall[i] = (end - begin) / 1000
            cpu[i] = (cpu_end - cpu_start) / 1000
    finally:
        gc.callbacks.remove(on_gc)
    switches = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw - before
    memory_after = memory_kib()
    return Timings(
        wall,
        cpu,
        hits=hits,
        gc_passes=len(passes),
        gc_ms=sum(passes) / 1e6,
        involuntary_switches=switches,
        memory_before=memory_before,
        memory_after=memory_after,
    )


_OPAQUE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)


def retained_mib(root: object) -> float:
    """What ``root`` holds, by ``sys.getsizeof`` over everything it reaches
    (each object once; classes, modules and functions are not followed)."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _OPAQUE):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total / (1 << 20)
