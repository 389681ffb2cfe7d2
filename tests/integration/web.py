"""Helpers shared by the ASGI, uvicorn, Lambda and browser tests: a configured
container and the login flow driven by HTTP requests only."""

from __future__ import annotations

import contextlib
import html.parser
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from dependency_injector import providers

from tests.integration.server import free_port, serving_in_thread
from wikibot_auth.adapters.key_files import private_key_pem
from wikibot_auth.adapters.memory import ScriptedIdentityProvider
from wikibot_auth.domain.model import Identity, IdentityProfile
from wikibot_auth.entrypoints.containers import Container, create_container

BASE = "http://127.0.0.1:8000"


def web_env(
    tmp_path: Path, private_key: rsa.RSAPrivateKey, base: str = BASE, **extra: str
) -> dict[str, str]:
    return {
        "WIKIBOT_AUTH_DATA_DIR": str(tmp_path / "data"),
        "WIKIBOT_AUTH_USER_STORE": "memory://",
        "WIKIBOT_AUTH_IDP": "local",
        "WIKIBOT_AUTH_REDIRECT_URI": f"{base}/auth/callback",
        "WIKIBOT_AUTH_PRIVATE_KEY": private_key_pem(private_key).decode(),
        **extra,
    }


def web_container(
    tmp_path: Path, private_key: rsa.RSAPrivateKey, base: str = BASE, **extra: str
) -> Container:
    return create_container(web_env(tmp_path, private_key, base, **extra))


class FormFields(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.action: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.action = values.get("action")
        if tag == "input" and values.get("name"):
            self.fields[values["name"] or ""] = values.get("value") or ""


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def start_login(
    client: httpx.AsyncClient, return_to: str | None = None
) -> httpx.Response:
    params = {} if return_to is None else {"return_to": return_to}
    response = await client.get("/auth/login", params=params)
    assert response.status_code == 302, response.text
    return response


async def sign_in(
    client: httpx.AsyncClient,
    email: str = "ada@example.com",
    name: str = "Ada Lovelace",
    return_to: str | None = None,
) -> str:
    """login -> sign-in page -> form post; returns the callback URL."""
    login = await start_login(client, return_to)
    page = await client.get(login.headers["location"])
    assert page.status_code == 200
    form = FormFields()
    form.feed(page.text)
    fields = {**form.fields, "email": email, "display_name": name}
    assert form.action is not None
    posted = await client.post(
        httpx.URL(login.headers["location"]).join(form.action), data=fields
    )
    assert posted.status_code == 303, posted.text
    return posted.headers["location"]


async def log_in(
    client: httpx.AsyncClient, email: str = "ada@example.com", **kwargs: Any
) -> dict[str, Any]:
    """The whole flow in JSON mode; returns the callback's JSON body."""
    callback = await sign_in(client, email, **kwargs)
    response = await client.get(callback, headers={"accept": "application/json"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def get_scope(
    path: str,
    headers: list[tuple[bytes, bytes]],
    server: tuple[str, int] = ("127.0.0.1", 8000),
) -> dict[str, Any]:
    """The ASGI scope of a GET of ``path`` as a server bound to ``server`` would
    pass it on (from a loopback client)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "server": server,
        "client": ("127.0.0.1", 50000),
    }


def client_for(app: Any, base: str = BASE) -> httpx.AsyncClient:
    """An httpx client that sends its requests to ``app`` in-process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


SERVER_KINDS = ["asgi-transport", "uvicorn"]


def base_for(server_kind: str) -> str:
    """The app's origin: a real 127.0.0.1 port when served by uvicorn."""
    return (
        BASE if server_kind == "asgi-transport" else f"http://127.0.0.1:{free_port()}"
    )


@contextlib.asynccontextmanager
async def serving(
    app: Any, base: str, server_kind: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` at ``base``: through httpx.ASGITransport, or through
    a real uvicorn socket on the port of ``base``."""
    if server_kind == "asgi-transport":
        async with client_for(app, base) as client:
            yield client
        return
    with serving_in_thread(app, int(base.rsplit(":", 1)[1])):
        async with httpx.AsyncClient(base_url=base) as client:
            yield client


def scripted_container(
    tmp_path: Path, private_key: rsa.RSAPrivateKey, base: str = BASE, **extra: str
) -> tuple[Container, ScriptedIdentityProvider]:
    """A container whose IdP is scripted by the test (no local sign-in page:
    the local IdP answers loopback requests only)."""
    env = web_env(tmp_path, private_key, base, WIKIBOT_AUTH_IDP="none", **extra)
    container = create_container(env)
    idp = ScriptedIdentityProvider()
    container.identity_provider.override(providers.Object(idp))
    return container, idp


LIN = IdentityProfile(
    alias=Identity.local("lin@example.com"), email="lin@example.com", first_name="Lin"
)


def scripted_callback(
    idp: ScriptedIdentityProvider, authorize_url: str, profile: IdentityProfile = LIN
) -> str:
    """The callback URL the IdP would send the browser to after ``authorize_url``
    (the scripted code carries ``profile``)."""
    query = query_of(authorize_url)
    code = secrets.token_urlsafe(16)
    idp.script(code, profile, code_challenge=query["code_challenge"])
    return (
        f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
    )
