"""The ASGI entrypoints after review: the redirect URI never comes from an
untrusted Host, the login cookie fits a browser, every callback answer expires
it, and the Origin check follows the redirect URI's origin."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from tests.integration.web import (
    client_for,
    get_scope,
    query_of,
    scripted_container,
    sign_in,
    web_container,
    web_env,
)
from wikibot_auth.adapters.key_files import private_key_pem
from wikibot_auth.adapters.memory import ScriptedIdentityProvider
from wikibot_auth.domain.errors import NotConfigured
from wikibot_auth.domain.model import Identity, IdentityProfile, User
from wikibot_auth.entrypoints.asgi import AuthMiddleware, create_app
from wikibot_auth.entrypoints.containers import Container, create_container

pytestmark = pytest.mark.anyio


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]
    return code


# --- 1. the redirect URI -----------------------------------------------------------


def production_env(private_key: Any, **extra: str) -> dict[str, str]:
    return {
        "WIKIBOT_AUTH_ENV": "production",
        "WIKIBOT_AUTH_PRIVATE_KEY": private_key_pem(private_key).decode(),
        "WIKIBOT_AUTH_USER_STORE": "memory://",
        "WORKOS_API_KEY": "sk_test_not_a_real_key",
        "WORKOS_CLIENT_ID": "client_x",
        **extra,
    }


@pytest.mark.parametrize(
    "extra",
    [{}, {"WIKIBOT_AUTH_ENV": "development"}],
    ids=["production", "workos-in-development"],
)
def test_the_app_needs_a_redirect_uri_in_production_and_with_workos(private_key, extra):
    container = create_container(production_env(private_key, **extra))
    with pytest.raises(NotConfigured, match="WIKIBOT_AUTH_REDIRECT_URI"):
        create_app(container)


def test_production_without_an_idp_needs_it_too(private_key):
    env = production_env(private_key)
    del env["WORKOS_API_KEY"], env["WORKOS_CLIENT_ID"]
    container = create_container(env)  # the authorizer's configuration builds
    with pytest.raises(NotConfigured, match="WIKIBOT_AUTH_REDIRECT_URI"):
        create_app(container)


def development_without_redirect_uri(tmp_path: Any, private_key: Any) -> Container:
    env = web_env(tmp_path, private_key)
    del env["WIKIBOT_AUTH_REDIRECT_URI"]
    return create_container(env)


@pytest.mark.parametrize(
    "base", ["http://attacker.example", "https://attacker.example:8443"]
)
async def test_development_refuses_a_host_derived_redirect_uri_off_loopback(
    tmp_path, private_key, base
):
    container = development_without_redirect_uri(tmp_path, private_key)
    # The local IdP refuses these Hosts first: no provider is configured.
    container.config.identity_providers.override(())
    container.identity_provider.override(providers.Object(ScriptedIdentityProvider()))
    app = create_app(container)
    async with client_for(app, base) as client:
        for path in ("/auth/login", "/auth/callback?code=c&state=s"):
            response = await client.get(path)
            assert response.status_code == 500, path
            assert error_code(response) == "not_configured"
            assert "attacker" not in response.headers.get("location", "")
            assert "set-cookie" not in response.headers


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000"])
async def test_development_derives_the_redirect_uri_on_a_loopback_host(
    tmp_path, private_key, host
):
    app = create_app(development_without_redirect_uri(tmp_path, private_key))
    async with client_for(app, f"http://{host}") as client:
        response = await client.get("/auth/login")
        assert response.status_code == 302
        page = query_of(response.headers["location"])
        assert page["redirect_uri"] == f"http://{host}/auth/callback"


# --- 3. the login cookie's size ------------------------------------------------------


@pytest.mark.parametrize(
    "return_to", ["/" + "\u00e9" * 2000, "/" + "\u6f22" * 1500, "/" + '"' * 2040]
)
async def test_a_login_cookie_too_big_for_a_browser_is_refused(
    tmp_path, private_key, return_to
):
    app = create_app(web_container(tmp_path, private_key))
    async with client_for(app) as client:
        response = await client.get("/auth/login", params={"return_to": return_to})
    assert response.status_code == 400, len(response.headers.get("set-cookie", ""))
    assert error_code(response) == "invalid_request"
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("return_to", ["/\u00e9t\u00e9?x=\u6f22", "/" + "a" * 2000])
async def test_a_return_to_that_fits_logs_in_and_comes_back(
    tmp_path, private_key, return_to
):
    app = create_app(web_container(tmp_path, private_key))
    async with client_for(app) as client:
        login = await client.get("/auth/login", params={"return_to": return_to})
        assert login.status_code == 302
        assert len(login.headers["set-cookie"].encode()) <= 4096
        client.cookies.clear()
        callback = await sign_in(client, return_to=return_to)
        done = await client.get(callback, headers={"accept": "text/html"})
    assert done.status_code == 303
    assert httpx.URL(done.headers["location"]).path == httpx.URL(return_to).path


# --- 4. every callback answer expires the login cookie ---------------------------------


async def test_an_unexpected_callback_failure_expires_the_login_cookie(
    tmp_path, private_key, caplog
):
    container = web_container(tmp_path, private_key)

    class BrokenExchange:
        def finish(self, callback: Any) -> Any:
            raise RuntimeError("a bug")

    container.exchange_auth_code.override(providers.Object(BrokenExchange()))
    caplog.set_level(logging.DEBUG)
    async with client_for(create_app(container)) as client:
        callback = await sign_in(client)
        response = await client.get(callback)
    assert response.status_code == 500
    assert error_code(response) == "internal_error"
    cookies = response.headers.get_list("set-cookie")
    assert any(
        c.startswith("wikibot_auth_login=;") and "Max-Age=0" in c for c in cookies
    )
    assert not any(c.startswith("wikibot_auth_token=") for c in cookies)
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    failures = [r for r in caplog.records if r.exc_info and r.name == "wikibot_auth"]
    assert failures, "the failure is logged with its traceback"
    ours = "\n".join(
        logging.Formatter().format(r)
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore"))  # the test client's log
    )
    assert "a bug" in ours
    for secret in query_of(callback).values():
        assert secret not in ours


# --- 6. the Origin check ---------------------------------------------------------------


@pytest.fixture
def proxied(tmp_path, private_key) -> tuple[Container, str]:
    """An app behind a TLS-terminating proxy: the redirect URI is https, the
    server sees plain http for the same host."""
    env = web_env(
        tmp_path, private_key, base="https://app.example", WIKIBOT_AUTH_IDP="none"
    )
    container = create_container(env)
    repo = container.user_repository()
    profile = IdentityProfile(
        alias=Identity.local("a@example.com"), email="a@example.com"
    )
    repo.create(User.new("usr_a", profile, 1_700_000_000), [profile.alias])
    return container, container.token_signer().create_token("usr_a")


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://app.example", 204),
        ("http://app.example", 403),
        ("https://evil.example", 403),
        (None, 403),
    ],
)
async def test_create_app_checks_origin_against_the_redirect_uri(
    proxied, origin, status
):
    container, token = proxied
    headers = {"cookie": f"__Host-wikibot_auth_token={token}"}
    if origin:
        headers["origin"] = origin
    async with client_for(create_app(container), "http://app.example") as client:
        response = await client.post("/auth/logout", headers=headers)
    assert response.status_code == status, response.text
    if status == 403:
        assert error_code(response) == "csrf_rejected"


async def run_middleware(
    container: Container, scope: dict[str, Any], **options: Any
) -> tuple[list[dict[str, Any]], str | None]:
    """(messages the middleware sent, the user id the app saw or None)."""
    sent: list[dict[str, Any]] = []
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["user"].identity)

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "websocket.connect"}

    middleware = AuthMiddleware(app, authenticate=container.authenticate(), **options)
    await middleware(scope, receive, send)
    return sent, (reached[0] if reached else None)


def scope_of(kind: str, token: str, *headers: tuple[bytes, bytes], **extra: Any):
    return {
        "type": kind,
        "scheme": extra.pop("scheme", "ws" if kind == "websocket" else "http"),
        "headers": [
            (b"host", b"app.example"),
            (b"cookie", b"__Host-wikibot_auth_token=" + token.encode()),
            *headers,
        ],
        **extra,
    }


@pytest.mark.parametrize(
    ("origin", "reached"),
    [
        (b"http://app.example", True),
        (b"https://app.example", True),
        (b"https://evil.example", False),
        (None, False),
    ],
)
async def test_websocket_cookie_auth_needs_a_same_host_origin(proxied, origin, reached):
    container, token = proxied
    headers = [(b"origin", origin)] if origin else []
    sent, user = await run_middleware(container, scope_of("websocket", token, *headers))
    if reached:
        assert user == "usr_a"
        assert sent == []
    else:
        assert user is None
        assert sent == [{"type": "websocket.close", "code": 1008}]


@pytest.mark.parametrize(
    ("origin", "method", "reached"),
    [
        (b"https://app.example", "POST", True),  # behind a TLS-terminating proxy
        (b"http://app.example", "POST", True),
        (b"http://evil.example", "POST", False),
        (b"https://app.example:8443", "POST", False),
        (None, "post", False),  # a lower-case method is not a safe one
        (None, "GET", True),
    ],
)
async def test_standalone_middleware_accepts_an_origin_naming_its_host(
    proxied, origin, method, reached
):
    container, token = proxied
    headers = [(b"origin", origin)] if origin else []
    sent, user = await run_middleware(
        container, scope_of("http", token, *headers, method=method)
    )
    assert (user == "usr_a") is reached
    if not reached:
        assert sent[0]["status"] == 403


async def test_an_explicit_allowed_origin_is_the_only_one(proxied):
    container, token = proxied
    for origin, reached in (
        (b"https://front.example", True),
        (b"https://app.example", False),
    ):
        _, user = await run_middleware(
            container,
            scope_of("http", token, (b"origin", origin), method="POST"),
            allowed_origin="https://front.example/",
        )
        assert (user == "usr_a") is reached, origin


def test_serve_in_production_without_a_redirect_uri_names_the_variable(
    monkeypatch, tmp_path, private_key, capsys
):
    from wikibot_auth.entrypoints.cli import main

    for name, value in production_env(private_key).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WIKIBOT_AUTH_REDIRECT_URI", raising=False)
    monkeypatch.setenv("WIKIBOT_AUTH_DATA_DIR", str(tmp_path))
    assert main(["serve", "--port", "8124"]) == 2
    err = capsys.readouterr().err
    assert "WIKIBOT_AUTH_REDIRECT_URI" in err
    assert "sk_test_not_a_real_key" not in err


@pytest.mark.parametrize("host", [b"app.example:abc", b"app.example:99999", b"[::1"])
async def test_a_malformed_host_is_no_origin_and_never_a_500(proxied, host):
    container, token = proxied
    anonymous = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "headers": [(b"host", host)],
    }
    sent, user = await run_middleware(container, anonymous)
    assert (sent, user) == ([], "")  # an anonymous request reaches the app
    cookie_post = scope_of(
        "http", token, (b"origin", b"http://app.example"), method="POST"
    )
    cookie_post["headers"][0] = (b"host", host)
    sent, user = await run_middleware(container, cookie_post)
    assert user is None
    assert sent[0]["status"] == 403  # csrf_rejected, not internal_error


async def test_authorization_headers_count_whatever_their_name_case(proxied):
    container, token = proxied
    scope = {
        "type": "http",
        "method": "GET",
        "headers": [
            (b"Authorization", b"Bearer not-a-token"),
            (b"authorization", f"Bearer {token}".encode()),
        ],
    }
    sent, user = await run_middleware(container, scope)
    assert user is None
    assert sent[0]["status"] == 400  # two Authorization headers: invalid_request


# --- the local IdP answers this machine only (DNS rebinding, the LAN) ---------------


async def call_app(app: Any, server: tuple[str, int], host: bytes) -> int:
    """One GET /auth/login as a server bound to ``server`` would pass it on."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(get_scope("/auth/login", [(b"host", host)], server), receive, send)
    return int(sent[0]["status"])


@pytest.mark.parametrize(
    ("server", "host", "status"),
    [
        (("127.0.0.1", 8000), b"127.0.0.1:8000", 302),
        (("127.0.0.1", 8000), b"localhost:8000", 302),
        (("::1", 8000), b"[::1]:8000", 302),
        (("127.0.0.1", 8000), b"rebind.attacker.example:8000", 400),  # rebinding
        (("127.0.0.1", 8000), b"127.0.0.1:9000", 400),  # another port
        (("127.0.0.1", 8000), b"127.0.0.1", 400),  # port 80 implied
        (("192.0.2.10", 8000), b"127.0.0.1:8000", 400),  # from the network
        (("127.0.0.1", 8000), b"127.0.0.1:8000\xff", 400),
    ],
)
async def test_the_local_idp_answers_loopback_requests_only(
    tmp_path, private_key, server, host, status
):
    app = create_app(web_container(tmp_path, private_key))
    assert await call_app(app, server, host) == status


async def test_a_rebinding_page_cannot_sign_in_over_a_real_socket(
    tmp_path, private_key
):
    from tests.integration.server import free_port, serving_in_thread

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(web_container(tmp_path, private_key, base))
    rebound = {
        "host": f"rebind.attacker.example:{port}",
        "origin": "http://rebind.attacker.example",
    }
    with serving_in_thread(app, port):
        async with httpx.AsyncClient(base_url=base) as client:
            for method, path in (
                ("GET", "/auth/login"),
                ("POST", "/auth/local/sign-in"),
            ):
                response = await client.request(method, path, headers=rebound)
                assert (response.status_code, error_code(response)) == (
                    400,
                    "invalid_request",
                ), path
            assert (await client.get("/auth/login")).status_code == 302


async def test_a_request_through_mangum_never_counts_as_local(tmp_path, private_key):
    from wikibot_auth.entrypoints.local_guard import is_local_request

    scope = {
        "type": "http",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "server": ("127.0.0.1", 8000),  # Mangum derives it from the Host header
    }
    assert is_local_request(scope)
    assert not is_local_request({**scope, "aws.event": {}})


async def test_other_idps_keep_their_hosts(tmp_path, private_key):
    container, _ = scripted_container(tmp_path, private_key, "https://auth.example")
    app = create_app(container)
    assert await call_app(app, ("198.51.100.5", 443), b"auth.example") == 302
