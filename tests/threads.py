"""Run test work in many threads at once."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_together(count: int, work: Callable[[int], None]) -> None:
    """Start ``count`` threads on ``work(index)`` behind one barrier; wait for all."""
    barrier = threading.Barrier(count)

    def start(index: int) -> None:
        barrier.wait()
        work(index)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
