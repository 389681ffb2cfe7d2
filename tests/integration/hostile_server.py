"""A loopback server that holds every connection it accepts, for as long as
the client stays: it trickles an answer's head or its body a byte at a time,
answers a TLS ClientHello with a handshake record a byte at a time, or says
nothing at all (to plain HTTP, or to a ClientHello). httpx bounds each read,
never a whole answer, so only the client hanging up ends a connection."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator

MODES = ("headers", "body", "handshake", "silent", "silent-tls")
DRIP_SECONDS = 0.05  # between bytes: each read is well within any timeout
HOLD_SECONDS = 30.0  # a connection ends then at the latest, so no test hangs
HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
HEADER_DRIP = b"HTTP/1.1 200 OK\r\nX-Filler: " + b"a" * 10_000
# A TLS handshake record of 16 KiB (a ServerHello would come first in it).
TLS_RECORD = b"\x16\x03\x03\x40\x00"


class HostileServer:
    """``mode`` is one of ``MODES``. ``accepted`` counts connections;
    ``hung_up`` those the client closed (read EOF, or a write failed)."""

    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(mode)
        self.mode = mode
        self.accepted = 0
        self.hung_up = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(DRIP_SECONDS)
        self._threads = [threading.Thread(target=self._accept, daemon=True)]

    @property
    def url(self) -> str:
        scheme = "https" if self.mode in ("handshake", "silent-tls") else "http"
        return f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}/token"

    @classmethod
    @contextlib.contextmanager
    def running(cls, mode: str) -> Iterator[HostileServer]:
        server = cls(mode)
        server._threads[0].start()
        try:
            yield server
        finally:
            server._stop.set()
            for thread in list(server._threads):
                thread.join(10)
            server._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            with self._lock:
                self.accepted += 1
            thread = threading.Thread(target=self._hold, args=(connection,))
            self._threads.append(thread)
            thread.start()

    def _hold(self, connection: socket.socket) -> None:
        with connection:
            if self._serve(connection):
                with self._lock:
                    self.hung_up += 1

    def _serve(self, connection: socket.socket) -> bool:
        """True when the client hung up, False when the server stopped first."""
        request = b""
        drips: list[bytes] = []
        if self.mode == "headers":
            drips = [bytes([byte]) for byte in HEADER_DRIP]
        elif self.mode == "body":
            drips = [HEAD] + [b"{"] * 100_000
        elif self.mode == "handshake":
            drips = [TLS_RECORD] + [b"\x02"] * 16_384
        ready = b"" if self.mode == "handshake" else b"\r\n\r\n"
        until = time.monotonic() + HOLD_SECONDS
        try:
            while not self._stop.is_set() and time.monotonic() < until:
                readable, _, _ = select.select([connection], [], [], DRIP_SECONDS)
                if readable:
                    data = connection.recv(65536)
                    if not data:
                        return True
                    request += data
                elif drips and request and ready in request:
                    connection.sendall(drips.pop(0))
        except OSError:
            return True
        return False
