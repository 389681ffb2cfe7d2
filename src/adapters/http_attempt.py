"""One attempt of a bounded request, raced between its caller and a worker.

Not an adapter: the part of ``bounded_http`` that decides, under one lock,
whether a worker runs an attempt or its caller gives up on it. Either the
worker starts it before its deadline, or the caller abandons it and it is never
sent.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TooLate(Exception):
    """The deadline passed while the attempt was running."""


class Attempt(Generic[T]):
    """``send(deadline)`` once, in a worker, if it can start by ``deadline``."""

    def __init__(self, send: Callable[[float], T], deadline: float) -> None:
        self._send, self._deadline = send, deadline
        self._lock = threading.Lock()
        self._state = "queued"

    def _move(self, to: str) -> bool:
        with self._lock:
            if self._state == "queued":
                self._state = to
            return self._state == to

    def abandon(self) -> bool:
        """True when it was never started (and now never will be)."""
        return self._move("abandoned")

    def run(self) -> T | Exception | None:
        """In the worker: what ``send`` returned or raised; None when the
        attempt was abandoned or its deadline passed before it started."""
        if time.monotonic() >= self._deadline or not self._move("started"):
            self.abandon()
            return None
        try:
            return self._send(self._deadline)
        except Exception as exc:
            return exc

    def wait(
        self, future: concurrent.futures.Future[T | Exception | None]
    ) -> T | Exception | None:
        """In the caller, until the deadline at most: what ``run`` gave, or
        ``TooLate()`` when it is still running then."""
        try:
            return future.result(max(self._deadline - time.monotonic(), 0.0))
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            if self.abandon():
                return None
        return future.result() if future.done() else TooLate()
