"""dynalite, a real DynamoDB-compatible server (npm ``dynalite@4``), for tests
and benchmarks: started on 127.0.0.1 on a free port, stopped afterwards.

Under ``CI=true`` a missing Node.js or dynalite is a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.integration.peer_process import (
    ROOT,
    answers,
    installed,
    node,
    or_skip,
    running_peer,
)

DYNALITE = ROOT / "node_modules" / ".bin" / "dynalite"
# dynalite's table operations take no time, so tests need not wait for them.
INSTANT = ("--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")


def _answers(endpoint: str) -> bool:
    # Any answer will do (400: a request without a signature).
    return answers(urllib.request.Request(endpoint, data=b"{}", method="POST"))  # noqa: S310


@contextlib.contextmanager
def run_dynalite(binary: Path = DYNALITE) -> Iterator[str]:
    """Start dynalite; yield its endpoint URL; stop it on exit.

    Raises:
        PeerMissing: Node.js or node_modules/.bin/dynalite is not there
            (run ``npm ci``).
    """
    node("dynalite")
    installed(binary, "npm ci")

    def argv(port: int) -> list[str]:
        return [str(binary), "--host", "127.0.0.1", "--port", str(port), *INSTANT]

    with running_peer("dynalite", argv, _answers, timeout=20.0) as endpoint:
        yield endpoint


@contextlib.contextmanager
def dynalite_or_skip(binary: Path = DYNALITE) -> Iterator[str]:
    """``run_dynalite`` for a fixture: skip when it is missing, except under
    ``CI=true`` where that fails the run."""
    with or_skip(run_dynalite(binary), "dynalite") as endpoint:
        yield endpoint
