"""dynalite, a real DynamoDB-compatible server (npm ``dynalite@4``), for tests
and benchmarks: started on 127.0.0.1 on a free port, stopped afterwards.

Under ``CI=true`` a missing Node.js or dynalite is a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.missing import required

ROOT = Path(__file__).resolve().parents[2]
DYNALITE = ROOT / "node_modules" / ".bin" / "dynalite"
START_TIMEOUT_S = 20.0


class DynaliteMissing(RuntimeError):
    pass


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server process, and kill it if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(endpoint: str) -> bool:
    request = urllib.request.Request(endpoint, data=b"{}", method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=0.5):  # noqa: S310
            return True
    except urllib.error.HTTPError:
        return True  # it answered (400: a request without a signature)
    except OSError:
        return False


@contextlib.contextmanager
def run_dynalite(binary: Path = DYNALITE) -> Iterator[str]:
    """Start dynalite; yield its endpoint URL; stop it on exit.

    Raises:
        DynaliteMissing: Node.js or node_modules/.bin/dynalite is not there
            (run ``npm ci``).
    """
    if shutil.which("node") is None:
        raise DynaliteMissing("Node.js is not installed (dynalite needs it)")
    if not binary.exists():
        raise DynaliteMissing(f"{binary} is missing: run `npm ci` at the repo root")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            str(binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--createTableMs",
            "0",
            "--deleteTableMs",
            "0",
            "--updateTableMs",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(endpoint):
            if process.poll() is not None:
                stderr = process.stderr.read() if process.stderr else b""
                raise RuntimeError(
                    f"dynalite exited with {process.returncode}: "
                    f"{stderr.decode(errors='replace')[-500:]}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"dynalite did not answer within {START_TIMEOUT_S}s")
            time.sleep(0.05)
        yield endpoint
    finally:
        stop(process)
        if process.stderr:
            process.stderr.close()


@contextlib.contextmanager
def dynalite_or_skip(binary: Path = DYNALITE) -> Iterator[str]:
    """``run_dynalite`` for a fixture: skip when it is missing, except under
    ``CI=true`` where that fails the run."""
    try:
        server = run_dynalite(binary)
        endpoint = server.__enter__()
    except DynaliteMissing as exc:
        required(f"dynalite: {exc}")
    try:
        yield endpoint
    finally:
        server.__exit__(None, None, None)
