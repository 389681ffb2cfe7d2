"""What the HTTP stand-ins (GitHub, OpenID, WorkOS) share: http.server in a
thread on a free loopback port, a lock, a record of every request, failures
queued per route, and JSON answers sent in one piece (TCP_NODELAY).

A stand-in subclasses ``StandIn`` (naming its handler and failure modes as
class keywords, and how a request maps to a route); its handler subclasses
``StandInHandler`` and answers a routed request in ``_answer`` and a queued
failure in ``_fail``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, NamedTuple, Self


class Recorded(NamedTuple):
    method: str
    raw_path: str
    headers: dict[str, str]
    body: Any


class StandIn:
    handler: ClassVar[type[StandInHandler]]
    failure_modes: ClassVar[tuple[str, ...]]

    def __init_subclass__(
        cls,
        *,
        handler: type[StandInHandler],
        failure_modes: tuple[str, ...],
        **kwargs: Any,
    ) -> None:
        """``class XStandIn(StandIn, handler=..., failure_modes=...)``."""
        super().__init_subclass__(**kwargs)
        cls.handler = handler
        cls.failure_modes = failure_modes

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self.handler)
        self._server.standin = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.requests: list[Recorded] = []
        self.failures: dict[str, list[str]] = {}
        self.reset()

    @staticmethod
    def route(method: str, raw_path: str) -> str:
        raise NotImplementedError

    def reset(self) -> None:
        with self.lock:
            self.requests = []
            self.failures = {}

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[Self]:
        standin = cls()
        standin._thread.start()
        try:
            yield standin
        finally:
            standin._server.shutdown()
            standin._server.server_close()

    def fail(self, route: str, mode: str, times: int = 1) -> None:
        if mode not in self.failure_modes:
            raise ValueError(mode)
        with self.lock:
            self.failures.setdefault(route, []).extend([mode] * times)

    def calls(self, route: str) -> list[Recorded]:
        with self.lock:
            return [
                r for r in self.requests if self.route(r.method, r.raw_path) == route
            ]

    def take_failure(self, route: str) -> str | None:
        with self.lock:
            queue = self.failures.get(route)
            return queue.pop(0) if queue else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a reset or a client that gave up: expected here


class StandInHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle and
        # delayed ACKs add 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def standin(self) -> Any:
        return self.server.standin  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def parse_body(self, raw: bytes) -> Any:
        return raw.decode("latin-1")

    def _answer(self, method: str, route: str, body: Any) -> None:
        raise NotImplementedError

    def _fail(self, mode: str) -> None:
        raise NotImplementedError

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.parse_body(self.rfile.read(length) if length else b"")
        standin = self.standin
        with standin.lock:
            standin.requests.append(
                Recorded(method, self.path, dict(self.headers.items()), body)
            )
        route = standin.route(method, self.path)
        mode = standin.take_failure(route)
        if mode is not None:
            self._fail(mode)
        else:
            self._answer(method, route, body)

    def _reset_connection(self) -> None:
        # SO_LINGER 0: close() sends RST instead of FIN.
        self.connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        self.connection.close()
        self.close_connection = True

    def _too_late(self, body: Any) -> None:
        """A 500 with ``body`` after the stand-in's ``slow_seconds`` (if the
        client still listens)."""
        time.sleep(self.standin.slow_seconds)
        with contextlib.suppress(OSError):
            self._json(500, body)

    def _serve(self, answer: dict[str, Any]) -> None:
        self._json(answer["status"], answer["body"], answer.get("headers", {}))

    def _json(
        self, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers)

    def _send(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)
