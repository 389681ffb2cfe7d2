"""examples/fastapi_app.py runs as its docstring says: a login with the local IdP,
then the protected route, in-process and over a real uvicorn socket."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from tests.integration.server import clean_environ, free_port
from tests.integration.web import (
    log_in,
    serving,
    sign_in,
    web_container,
)

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastapi_app", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def client(
    tmp_path, private_key, base, server_kind
) -> AsyncIterator[httpx.AsyncClient]:
    app = load_example().build(web_container(tmp_path, private_key, base))
    async with serving(app, base, server_kind) as client:
        yield client


async def test_a_token_from_the_login_opens_the_protected_route(client):
    assert (await client.get("/hello")).json()["error"] == "missing_token"
    body = await log_in(client)
    hello = await client.get(
        "/hello", headers={"authorization": f"Bearer {body['token']}"}
    )
    assert hello.json() == {
        "hello": "Ada Lovelace",
        "user_id": body["user"]["user_id"],
    }


async def test_a_browser_login_returns_to_the_protected_route(client):
    callback = await sign_in(client, return_to="/hello")
    landed = await client.get(callback, headers={"accept": "text/html"})
    assert (landed.status_code, landed.headers["location"]) == (303, "/hello")
    hello = await client.get("/hello")  # with the token cookie
    assert hello.json()["hello"] == "Ada Lovelace"
    assert (await client.get("/me")).json()["email"] == "ada@example.com"


async def test_the_docs_offer_authorize_for_the_protected_route(client):
    document = (await client.get("/openapi.json")).json()
    assert document["paths"]["/hello"]["get"]["security"] == [{"wikibot_auth": []}]
    assert list(document["components"]["securitySchemes"]) == ["wikibot_auth"]


async def test_the_documented_uvicorn_command_serves_it(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environ = clean_environ(
        WIKIBOT_AUTH_IDP="local",
        WIKIBOT_AUTH_REDIRECT_URI=f"{base}/auth/callback",
        WIKIBOT_AUTH_DATA_DIR=str(tmp_path / "data"),  # SQLite and a generated key
    )
    command = [sys.executable, "-m", "uvicorn", "--factory", "--app-dir", "examples"]
    command += ["--no-access-log", "--host", "127.0.0.1", "--port", str(port)]
    with subprocess.Popen(
        [*command, "fastapi_app:build"],
        cwd=EXAMPLE.parents[1],
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as process:
        try:
            async with httpx.AsyncClient(base_url=base) as client:
                await wait_until_up(client, process)
                token = (await log_in(client))["token"]
                hello = await client.get(
                    "/hello", headers={"authorization": f"Bearer {token}"}
                )
        finally:
            process.terminate()
            process.wait(10)
    assert hello.json()["hello"] == "Ada Lovelace"


async def wait_until_up(client: httpx.AsyncClient, process: subprocess.Popen) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise AssertionError(process.communicate()[1].decode(errors="replace"))
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("uvicorn did not start in 30 s")
