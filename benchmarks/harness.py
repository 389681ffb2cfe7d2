"""Timing and reporting shared by the benchmark sections.

Candidates of one table are measured in ONE process, interleaved round by
round (so a noisy neighbour on a shared machine hurts them all alike). Each
round times ``number`` calls; a candidate's figure is the median per-call time
over the rounds, with the min-max spread.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def machine_line() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"machine: nproc={os.cpu_count()}, {model}, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )


@dataclass
class Result:
    name: str
    samples: list[float] = field(default_factory=list)  # microseconds per call

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


@dataclass
class Bench:
    """Candidates to time against each other; ``floor`` names the baseline."""

    title: str
    floor: str
    rounds: int = 31
    target_seconds: float = 0.01
    candidates: dict[str, Callable[[], object]] = field(default_factory=dict)
    results: dict[str, Result] = field(default_factory=dict)

    def add(self, name: str, fn: Callable[[], object]) -> None:
        fn()  # warm up, and fail early if the candidate is broken
        self.candidates[name] = fn

    def run(self) -> None:
        numbers = {
            name: _calibrate(fn, self.target_seconds)
            for name, fn in self.candidates.items()
        }
        self.results = {name: Result(name) for name in self.candidates}
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for _ in range(self.rounds):
                for name, fn in self.candidates.items():
                    number = numbers[name]
                    start = time.perf_counter_ns()
                    for _ in range(number):
                        fn()
                    elapsed = time.perf_counter_ns() - start
                    self.results[name].samples.append(elapsed / number / 1000)
                gc.collect()
        finally:
            if gc_was_enabled:
                gc.enable()

    def median(self, name: str) -> float:
        return self.results[name].median

    def ratio(self, name: str, to: str | None = None) -> float:
        return self.median(name) / self.median(to or self.floor)

    def table(self) -> str:
        floor = self.median(self.floor)
        width = max(len(name) for name in self.results)
        lines = [
            f"\n## {self.title}  ({self.rounds} rounds, median per call)",
            f"{'candidate':<{width}}  {'median us':>10}  {'min-max us':>17}  {'x floor':>7}",
        ]
        for name, result in self.results.items():
            spread = f"{min(result.samples):.2f}-{max(result.samples):.2f}"
            lines.append(
                f"{name:<{width}}  {result.median:>10.2f}  {spread:>17}  "
                f"{result.median / floor:>7.3f}"
            )
        return "\n".join(lines)


def _calibrate(fn: Callable[[], object], target_seconds: float) -> int:
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        if time.perf_counter() - start >= target_seconds / 4 or number >= 1 << 20:
            return max(1, number * 4)
        number *= 2


def verdict(label: str, value: float, limit: float) -> str:
    mark = "met" if value <= limit else "MISSED"
    return f"target {label}: {value:.3f} (at most {limit}) {mark}"
