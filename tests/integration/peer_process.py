"""What the real peers (dynalite, moto's server, oidc-provider) share: a free
loopback port, a server process started and waited for until it answers,
stopped by its own pid, and a fixture form that skips when the peer is missing
(a failure under ``CI=true``).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

from tests.missing import required

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]


class PeerMissing(RuntimeError):
    """What a peer needs (Node.js, an npm package, moto's venv) is not on this
    machine; the message says how to install it."""


def node(peer: str) -> str:
    """The path of Node.js.

    Raises:
        PeerMissing: it is not installed.
    """
    found = shutil.which("node")
    if found is None:
        raise PeerMissing(f"Node.js is not installed ({peer} needs it)")
    return found


def installed(path: Path, how: str) -> Path:
    """``path``, which ``how`` (run at the repo root) installs.

    Raises:
        PeerMissing: it is not there.
    """
    if not path.exists():
        raise PeerMissing(f"{path} is missing: run `{how}` at the repo root")
    return path


def answers(request: urllib.request.Request | str) -> bool:
    """Whether a server answers ``request`` at all: an HTTP error status counts
    (a request it refuses), a connection it does not take does not."""
    try:
        with urllib.request.urlopen(request, timeout=0.5):  # noqa: S310 - loopback
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server process, and kill it if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_process(
    name: str,
    argv: Sequence[str],
    answers: Callable[[], bool],
    timeout: float,
    *,
    cwd: Path | None = None,
    stderr_tail: int = 500,
) -> Iterator[None]:
    """Start ``argv``; return once ``answers()``; stop it by its pid on exit.

    Raises:
        RuntimeError: it exited first (with the tail of its stderr), or did
            not answer within ``timeout`` seconds.
    """
    process = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + timeout
        while not answers():
            if process.poll() is not None:
                stderr = process.stderr.read() if process.stderr else b""
                raise RuntimeError(
                    f"{name} exited with {process.returncode}: "
                    f"{stderr.decode(errors='replace')[-stderr_tail:]}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer within {timeout}s")
            time.sleep(0.05)
        yield
    finally:
        stop(process)
        if process.stderr:
            process.stderr.close()


@contextlib.contextmanager
def running_peer(
    name: str,
    argv: Callable[[int], Sequence[str]],
    answers_at: Callable[[str], bool],
    timeout: float,
) -> Iterator[str]:
    """``running_process`` of ``argv(port)`` on a free loopback port; yield its
    endpoint URL once ``answers_at(endpoint)``."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with running_process(name, argv(port), lambda: answers_at(endpoint), timeout):
        yield endpoint


@contextlib.contextmanager
def or_skip(server: AbstractContextManager[T], what: str) -> Iterator[T]:
    """``server`` for a fixture: skip when it raises ``PeerMissing`` on entry,
    except under ``CI=true`` where that fails the run."""
    try:
        value = server.__enter__()
    except PeerMissing as exc:
        required(f"{what}: {exc}")
    try:
        yield value
    finally:
        server.__exit__(None, None, None)
