"""``wikibot-auth serve`` as a real process on a free 127.0.0.1 port, and the
other commands of the CLI as real processes."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from tests.integration.peer_process import free_port

START_TIMEOUT = 30.0
CLI = [sys.executable, "-m", "wikibot_auth.entrypoints.cli"]


def clean_environ(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WIKIBOT_AUTH_", "WORKOS_", "AWS_LAMBDA_"))
    }
    env.update(extra)
    return env


@contextlib.contextmanager
def running_server(
    tmp_path: Path, environ: Mapping[str, str]
) -> Iterator[tuple[str, Path]]:
    """Start ``wikibot-auth serve``; yield (base URL, path of its output)."""
    with serve_process(tmp_path, environ) as (base, output, _):
        yield base, output


@contextlib.contextmanager
def serve_process(
    tmp_path: Path, environ: Mapping[str, str]
) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    """``running_server``, and the server's process (the soak benchmark reads
    its memory)."""
    port = free_port()
    output = tmp_path / "serve.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [
                *CLI,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=dict(environ),
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"serve exited early: {output.read_text(errors='replace')}"
                    )
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("serve did not start in time")
                time.sleep(0.1)
            yield base, output, process
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def run_cli(
    environ: Mapping[str, str], *argv: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """``wikibot-auth ARGV...`` as a process with ``environ`` (an operator's
    shell beside a running ``serve``); its exit code, stdout and stderr."""
    return subprocess.run(
        [*CLI, *argv],
        env=dict(environ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def serving_in_thread(app: object, port: int) -> Iterator[str]:
    """Run ``app`` under a real uvicorn server on 127.0.0.1:``port`` in a thread
    of this process (so a test can still reach the app's container)."""
    import threading

    import uvicorn

    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
