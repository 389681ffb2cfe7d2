"""The FastAPI dependencies on a real FastAPI app, through httpx.ASGITransport and
through a real uvicorn socket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import httpx
import pytest
from dependency_injector import providers
from fastapi import Depends, FastAPI, WebSocket

from tests.integration.web import (
    BASE,
    log_in,
    serving,
    sign_in,
    web_container,
)
from wikibot_auth import AuthenticatedUser
from wikibot_auth.adapters.memory import FixedClock, InMemoryUserRepository
from wikibot_auth.domain.errors import StoreUnavailable
from wikibot_auth.domain.model import User
from wikibot_auth.entrypoints.asgi import AuthMiddleware, create_app
from wikibot_auth.entrypoints.containers import Container
from wikibot_auth.entrypoints.fastapi import (
    AuthHTTPException,
    current_user,
    install,
    optional_user,
)
from wikibot_auth.entrypoints.wire import error_answer

pytestmark = pytest.mark.anyio

REALM = 'Bearer realm="wikibot.io"'
INVALID_TOKEN = REALM + ', error="invalid_token"'

CurrentUser = Annotated[AuthenticatedUser, Depends(current_user)]
OptionalUser = Annotated[AuthenticatedUser | None, Depends(optional_user)]


class TestStore(InMemoryUserRepository):
    """``down``: every read fails; ``gate``: reads wait for it (10 s at most)."""

    __test__ = False

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def get(self, user_id: str) -> User | None:
        if self.down:
            raise StoreUnavailable("the test store is down")
        if self.gate is not None:
            self.entered.set()
            if not self.gate.wait(10):
                raise StoreUnavailable("released too late: the event loop was blocked")
        return super().get(user_id)


class CountingSigner:
    """The container's signer, counting ``validate_token`` calls."""

    def __init__(self, signer: Any) -> None:
        self.signer = signer
        self.validated = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.signer, name)

    def validate_token(self, token: str) -> Any:
        self.validated += 1
        return self.signer.validate_token(token)


@pytest.fixture
def store() -> TestStore:
    return TestStore()


@pytest.fixture
def signer(container) -> CountingSigner:
    return container.token_signer()


@pytest.fixture
def container(tmp_path, private_key, base, clock, store) -> Container:
    container = web_container(tmp_path, private_key, base)
    container.clock.override(providers.Object(clock))
    container.user_repository.override(providers.Object(store))
    counting = CountingSigner(container.token_signer())
    container.token_signer.override(providers.Object(counting))
    return container


def api(container: Container, *, installed: bool = True, **middleware: Any) -> Any:
    """A FastAPI app: /private, /maybe, POST /private, /open; the login routes
    of ``create_app()`` mounted at /."""
    app = FastAPI()
    if installed:
        install(app, container=container)

    @app.get("/private")
    async def private(user: CurrentUser) -> dict[str, str]:
        return user.public_dict()

    @app.post("/private")
    async def private_post(user: CurrentUser) -> dict[str, str]:
        return user.public_dict()

    @app.get("/maybe")
    async def maybe(user: OptionalUser) -> dict[str, str | None]:
        return {"user_id": None if user is None else user.user_id}

    @app.get("/open")
    async def open_route() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, user: CurrentUser) -> None:
        await websocket.accept()
        await websocket.send_text(user.user_id)
        await websocket.close()

    if middleware:
        app.add_middleware(AuthMiddleware, **middleware)
    app.mount("/", create_app(container))
    return app


@pytest.fixture
def serve(base, server_kind) -> Callable[[Any], Any]:
    """``async with serve(app) as client``, in-process or over a uvicorn socket."""

    @contextlib.asynccontextmanager
    async def run(app: Any) -> AsyncIterator[httpx.AsyncClient]:
        async with serving(app, base, server_kind) as client:
            yield client

    return run


@pytest.fixture
async def client(container, serve) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(api(container)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def assert_wire(response: httpx.Response, code: str) -> None:
    """The answer is the wire table's, byte for byte, with its headers."""
    answer = error_answer(code)
    assert (response.status_code, response.content) == (answer.status, answer.body)
    for name, value in answer.headers.items():
        assert response.headers[name] == value
    if "www-authenticate" not in answer.headers:
        assert "www-authenticate" not in response.headers


async def test_a_valid_token_gives_the_user(client, signer):
    body = await log_in(client)
    response = await client.get("/private", headers=bearer(body["token"]))
    assert (response.status_code, response.json()) == (200, body["user"])
    assert signer.validated == 1


async def test_no_credentials_is_missing_token_with_the_realm(client):
    response = await client.get("/private")
    assert_wire(response, "missing_token")
    assert response.headers["www-authenticate"] == REALM
    assert response.json() == {
        "error": "missing_token",
        "error_description": "Authentication is required.",
    }


def expire(container: Container, clock: FixedClock, body: dict[str, Any]) -> str:
    clock.advance(86400 + 3600)
    return str(body["token"])


def revoke(container: Container, clock: FixedClock, body: dict[str, Any]) -> str:
    container.sign_out_everywhere()(body["user"]["user_id"])
    return str(body["token"])


def disable(container: Container, clock: FixedClock, body: dict[str, Any]) -> str:
    container.set_user_disabled()(body["user"]["user_id"], True)
    return str(body["token"])


def unknown(container: Container, clock: FixedClock, body: dict[str, Any]) -> str:
    return str(container.token_signer().create_token("usr_" + "0" * 32))


def garble(container: Container, clock: FixedClock, body: dict[str, Any]) -> str:
    return str(body["token"])[:-4] + "AAAA"


@pytest.mark.parametrize(
    ("spoil", "code", "status", "challenge"),
    [
        (expire, "token_expired", 401, INVALID_TOKEN),
        (revoke, "token_revoked", 401, INVALID_TOKEN),
        (disable, "user_disabled", 403, None),
        (unknown, "unknown_user", 401, INVALID_TOKEN),
        (garble, "invalid_token", 401, INVALID_TOKEN),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
async def test_a_refused_token_is_answered_from_the_wire_table(
    client, container, clock, spoil, code, status, challenge
):
    token = spoil(container, clock, await log_in(client))
    for path in ("/private", "/maybe"):  # optional_user refuses a bad token too
        response = await client.get(path, headers=bearer(token))
        assert_wire(response, code)
        assert response.status_code == status
        assert response.headers.get("www-authenticate") == challenge


async def test_two_authorization_headers_are_invalid_request(client):
    token = (await log_in(client))["token"]
    response = await client.get("/private", headers=[bearer(token).popitem()] * 2)
    assert_wire(response, "invalid_request")


async def test_store_unavailable_is_503_with_retry_after(client, store):
    token = (await log_in(client))["token"]
    store.down = True
    response = await client.get("/private", headers=bearer(token))
    assert_wire(response, "store_unavailable")
    assert (response.status_code, response.headers["retry-after"]) == (503, "1")


async def test_optional_user_is_none_when_anonymous(client):
    assert (await client.get("/maybe")).json() == {"user_id": None}
    basic = await client.get("/maybe", headers={"authorization": "Basic YTpi"})
    assert basic.json() == {"user_id": None}  # another scheme: no credentials
    body = await log_in(client)
    who = await client.get("/maybe", headers=bearer(body["token"]))
    assert who.json() == {"user_id": body["user"]["user_id"]}


async def test_the_token_cookie_authenticates_with_the_origin_rule(client, base):
    callback = await sign_in(client)
    await client.get(callback, headers={"accept": "text/html"})
    assert "wikibot_auth_token" in client.cookies
    assert (await client.get("/private")).json()["email"] == "ada@example.com"
    assert_wire(await client.post("/private"), "csrf_rejected")
    evil = await client.post("/private", headers={"origin": "https://evil.example"})
    assert_wire(evil, "csrf_rejected")
    ok = await client.post("/private", headers={"origin": base})
    assert ok.json()["email"] == "ada@example.com"


async def test_cookie_auth_off_ignores_the_cookie(tmp_path, private_key, serve, base):
    container = web_container(tmp_path, private_key, base, WIKIBOT_AUTH_COOKIE_AUTH="0")
    async with serve(api(container)) as client:
        callback = await sign_in(client)
        await client.get(callback, headers={"accept": "text/html"})
        assert "wikibot_auth_token" in client.cookies
        assert_wire(await client.get("/private"), "missing_token")
        assert (await client.get("/maybe")).json() == {"user_id": None}


async def test_the_middlewares_result_is_reused(container, signer, serve):
    app = api(container, authenticate=container.authenticate())
    async with serve(app) as client:
        body = await log_in(client)
        response = await client.get("/private", headers=bearer(body["token"]))
        assert response.json() == body["user"]
        assert signer.validated == 1  # the middleware's check, not a second one
        assert (await client.get("/maybe")).json() == {"user_id": None}
        assert_wire(await client.get("/private"), "missing_token")


async def test_without_install_the_middlewares_result_still_serves(container, serve):
    app = api(container, installed=False, authenticate=container.authenticate())
    async with serve(app) as client:
        body = await log_in(client)
        who = await client.get("/private", headers=bearer(body["token"]))
        assert who.json() == body["user"]
        # FastAPI's own handler: its body, the wire's status and headers
        anonymous = await client.get("/private")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == REALM
        assert anonymous.json() == {"detail": "Authentication is required."}


async def test_without_install_or_middleware_it_says_so(container, serve, caplog):
    async with serve(api(container, installed=False)) as client:
        response = await client.get("/private", headers=bearer("x.y.z"))
    assert response.status_code == 500
    assert response.json() == {
        "detail": "The authentication service is not configured for this."
    }
    assert any("install(app)" in r.getMessage() for r in caplog.records)


async def test_a_slow_store_does_not_block_the_event_loop(client, store):
    token = (await log_in(client))["token"]
    store.gate = threading.Event()
    slow = asyncio.create_task(client.get("/private", headers=bearer(token)))
    assert await asyncio.to_thread(store.entered.wait, 10)
    assert (await client.get("/open")).status_code == 200  # while the store waits
    store.gate.set()
    assert (await slow).status_code == 200


async def test_openapi_declares_the_bearer_scheme(client):
    document = (await client.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["wikibot_auth"]
    assert {k: scheme[k] for k in ("type", "scheme", "bearerFormat")} == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    paths = document["paths"]
    assert paths["/private"]["get"]["security"] == [{"wikibot_auth": []}]
    assert paths["/private"]["post"]["security"] == [{"wikibot_auth": []}]
    assert paths["/maybe"]["get"]["security"] == [{"wikibot_auth": []}]
    assert "security" not in paths["/open"]["get"]
    docs = await client.get("/docs")
    assert (docs.status_code, "swagger-ui" in docs.text) == (200, True)


async def test_no_token_reaches_the_logs(client, store, caplog):
    caplog.set_level(logging.DEBUG)
    token = (await log_in(client))["token"]
    await client.get("/private", headers=bearer(token + "x"))
    store.down = True
    await client.get("/private", headers=bearer(token))
    assert token not in "\n".join(r.getMessage() for r in caplog.records)


async def websocket(app: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Open /ws in-process (with the HTTP denial extension); the messages sent."""
    inbox: list[dict[str, Any]] = [{"type": "websocket.connect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0) if inbox else {"type": "websocket.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "http_version": "1.1",
        "path": "/ws",
        "raw_path": b"/ws",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000")]
        + [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
    }
    await app(scope, receive, send)
    return sent


def denial(sent: list[dict[str, Any]]) -> httpx.Response:
    start, body = sent
    assert start["type"] == "websocket.http.response.start"
    headers = [(k.decode(), v.decode()) for k, v in start["headers"]]
    return httpx.Response(start["status"], headers=headers, content=body["body"])


@pytest.mark.parametrize("server_kind", ["asgi-transport"], indirect=True)
async def test_a_websocket_is_authenticated_or_denied_with_the_wire_answer(
    container, serve
):
    app = api(container)
    async with serve(app) as client:
        body = await log_in(client)
    accepted = await websocket(app, bearer(body["token"]))
    assert [m["type"] for m in accepted] == [
        "websocket.accept",
        "websocket.send",
        "websocket.close",
    ]
    assert accepted[1]["text"] == body["user"]["user_id"]
    assert_wire(denial(await websocket(app, {})), "missing_token")
    cookie = {"cookie": f"wikibot_auth_token={body['token']}"}
    assert_wire(denial(await websocket(app, cookie)), "csrf_rejected")
    with_origin = {**cookie, "origin": BASE}
    assert (await websocket(app, with_origin))[0]["type"] == "websocket.accept"


def test_the_exception_carries_the_wire_answer() -> None:
    from wikibot_auth.domain.errors import TokenExpired

    exc = AuthHTTPException(TokenExpired("exp 12 < now 13"))
    assert (exc.status_code, exc.code) == (401, "token_expired")
    assert exc.detail == "The access token has expired."
    assert exc.headers is not None
    assert exc.headers["www-authenticate"] == INVALID_TOKEN
    assert exc.body == error_answer("token_expired").body


HIDE_FASTAPI = """
import sys
sys.modules["fastapi"] = None  # as if FastAPI were not installed
try:
    import wikibot_auth.entrypoints.fastapi
except ImportError as exc:
    print(type(exc).__name__, exc.name, exc, sep="|")
"""


def test_without_fastapi_the_import_error_names_the_extra() -> None:
    out = subprocess.run(
        [sys.executable, "-c", HIDE_FASTAPI],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    kind, name, message = out.split("|")
    assert (kind, name) == ("ModuleNotFoundError", "fastapi")
    assert "pip install 'wikibot-auth[fastapi]'" in message
