"""One attempt of a bounded request, raced between its caller and a worker.

Not an adapter: the part of ``bounded_http`` that decides, under one lock,
whether a worker runs an attempt or its caller gives up on it. Either the
worker starts it before its deadline, or the caller abandons it and it is never
sent. Once started, the caller cuts it at the deadline: the socket of the
attempt's connection is shut down (``SHUT_RDWR``), which wakes the worker from
whatever read or write it is blocked in (a status line or headers trickled a
byte at a time, a body, a TLS handshake, a server that never answers) with a
transport error, so it is free again. httpx bounds each read, never a whole
answer.

The socket is learnt from httpcore's ``trace`` extension: the return value of
``connection.connect_tcp.complete`` is the new connection's network stream. It
is duplicated there (the TLS wrap detaches the original socket object; the
duplicate shares the kernel socket, and no descriptor number can be reused
under it) and closed when the attempt ends. A connection taken from a pool
would fire no such event, so the client keeps none (``bounded_http``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Trace = Callable[[str, dict[str, Any]], None]


class TooLate(Exception):
    """The deadline passed while the attempt was running."""


class Attempt(Generic[T]):
    """``send(deadline, trace)`` once, in a worker, if it can start by
    ``deadline``; ``trace`` is the request's httpx ``trace`` extension."""

    def __init__(self, send: Callable[[float, Trace], T], deadline: float) -> None:
        self._send, self._deadline = send, deadline
        self._lock = threading.Lock()
        self._state = "queued"
        self._cut = False
        self._sockets: list[socket.socket] = []

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
            return self._send(self._deadline, self._trace)
        except Exception as exc:
            return exc
        finally:
            with self._lock:
                held, self._sockets = self._sockets, []
            for sock in held:
                sock.close()

    def wait(
        self, future: concurrent.futures.Future[T | Exception | None]
    ) -> T | Exception | None:
        """In the caller, until the deadline at most: what ``run`` gave, or
        ``TooLate()`` when it is still running then (and now cut)."""
        try:
            return future.result(max(self._deadline - time.monotonic(), 0.0))
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            if self.abandon():
                return None
            return future.result() if future.done() else TooLate()
        finally:
            self.cut()  # a no-op once ``run`` has ended

    def cut(self) -> None:
        """Shut down the attempt's connection now, and any it opens later."""
        with self._lock:
            self._cut = True
            for sock in self._sockets:
                _shut(sock)

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        # Called by httpcore in the worker; it must not raise (a callback that
        # raises at ``complete`` would leave the new stream unclosed).
        if event != "connection.connect_tcp.complete":
            return
        stream = info.get("return_value")
        raw = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(raw, socket.socket):
            return
        try:
            held = raw.dup()
        except OSError:  # no descriptor left to cut it with: end it now
            _shut(raw)
            return
        with self._lock:
            self._sockets.append(held)
            if self._cut:
                _shut(held)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already disconnected or closed
        sock.shutdown(socket.SHUT_RDWR)
