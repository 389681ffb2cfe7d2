"""Timing and reporting shared by the benchmark sections.

Candidates of one table are measured in ONE process, interleaved round by
round (so a noisy neighbour on a shared machine hurts them all alike). Each
round times ``number`` calls; a candidate's figure is the median per-call time
over the rounds, with the min-max spread. A ratio between two candidates is
the median of the per-round paired ratios (both measured in the same round,
a fraction of a second apart), which a busy neighbour disturbs far less than
a ratio of two medians.

Every section ``record``s the figures it reports; ``python -m benchmarks
--save FILE`` writes them, ``--compare FILE`` sets them against a saved run.
"""

from __future__ import annotations

import gc
import math
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


# name -> (value, kind): "ratio" figures are compared between runs (they
# travel between machines); "us" figures are absolute, reported only.
RECORDED: dict[str, tuple[float, str]] = {}


def record(name: str, value: float, kind: str = "ratio") -> None:
    """Keep a figure of this run for ``--save``/``--compare``."""
    if not math.isfinite(value):
        raise ValueError(f"{name}: {value} is not a figure")
    RECORDED[name] = (value, kind)


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
        """The median of the per-round ratios ``name`` / ``to`` (the floor)."""
        pairs = zip(
            self.results[name].samples,
            self.results[to or self.floor].samples,
            strict=True,
        )
        return statistics.median(a / b for a, b in pairs)

    def paired_difference(self, name: str, to: str | None = None) -> float:
        """The median of the per-round differences ``name`` - ``to``, in us."""
        pairs = zip(
            self.results[name].samples,
            self.results[to or self.floor].samples,
            strict=True,
        )
        return statistics.median(a - b for a, b in pairs)

    def record(self) -> None:
        """Record every candidate's ratio to the floor, and its median."""
        for name in self.results:
            if name != self.floor:
                record(f"{self.title}: {name} / floor", self.ratio(name))
            record(f"{self.title}: {name} (us)", self.median(name), "us")

    def table(self) -> str:
        """The candidates' medians and their paired ratios to the floor; the
        figures are ``record``ed too."""
        self.record()
        width = max(len(name) for name in self.results)
        lines = [
            f"\n## {self.title}  ({self.rounds} rounds, median per call; x floor: "
            "median of the per-round paired ratios)",
            f"{'candidate':<{width}}  {'median us':>10}  {'min-max us':>17}  {'x floor':>7}",
        ]
        for name, result in self.results.items():
            spread = f"{min(result.samples):.2f}-{max(result.samples):.2f}"
            lines.append(
                f"{name:<{width}}  {result.median:>10.2f}  {spread:>17}  "
                f"{self.ratio(name):>7.3f}"
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


def verdict(label: str, value: float, limit: float, unit: str = "") -> str:
    mark = "met" if value <= limit else "MISSED"
    return f"target {label}: {value:.3f}{unit} (at most {limit}{unit}) {mark}"
