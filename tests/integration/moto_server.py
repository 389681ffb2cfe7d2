"""moto's standalone server (``moto[server]``), for the KMS tests over real HTTP:
started on 127.0.0.1 on a free port, stopped by its own pid afterwards.

It lives in ``.moto-venv`` (the Makefile's rule, which ``make test`` runs):
moto[server] brings pydantic-settings, which dependency-injector imports
whenever it is installed, so it stays out of ``.venv``. Under ``CI=true`` a
missing server is a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.integration.peer_process import (
    ROOT,
    answers,
    installed,
    or_skip,
    running_peer,
)

MOTO_SERVER = ROOT / ".moto-venv" / "bin" / "moto_server"


def _answers(endpoint: str) -> bool:
    return answers(f"{endpoint}/moto-api/data.json")


def reset(endpoint: str) -> None:
    """Forget every resource the server holds (keys, aliases)."""
    request = urllib.request.Request(  # noqa: S310
        f"{endpoint}/moto-api/reset", data=b"", method="POST"
    )
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310
        pass


@contextlib.contextmanager
def run_moto_server(binary: Path = MOTO_SERVER) -> Iterator[str]:
    """Start ``moto_server``; yield its endpoint URL; stop it on exit.

    Raises:
        PeerMissing: ``.moto-venv`` is not there (run ``make test``, or the
            ``.moto-venv/.stamp`` rule of the Makefile).
    """
    installed(binary, "make .moto-venv/.stamp")

    def argv(port: int) -> list[str]:
        return [str(binary), "-H", "127.0.0.1", "-p", str(port)]

    with running_peer("moto_server", argv, _answers, timeout=30.0) as endpoint:
        yield endpoint


@contextlib.contextmanager
def moto_server_or_skip(binary: Path = MOTO_SERVER) -> Iterator[str]:
    """``run_moto_server`` for a fixture: skip when it is missing, except
    under ``CI=true`` where that fails the run."""
    with or_skip(run_moto_server(binary), "moto's server") as url:
        yield url
