"""The ASGI app and middleware through httpx.ASGITransport."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI
from fastapi import Request as FastAPIRequest
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.integration.web import (
    client_for,
    log_in,
    query_of,
    scripted_container,
    serving,
    sign_in,
    start_login,
    web_container,
)
from wikibot_auth.adapters.memory import FixedClock, InMemoryUserRepository
from wikibot_auth.domain.errors import StoreUnavailable
from wikibot_auth.domain.model import User
from wikibot_auth.entrypoints.asgi import AuthMiddleware, create_app
from wikibot_auth.entrypoints.containers import Container

pytestmark = pytest.mark.anyio


@pytest.fixture
def container(tmp_path, private_key, base) -> Container:
    return web_container(tmp_path, private_key, base)


@pytest.fixture
async def client(container, base, server_kind) -> AsyncIterator[httpx.AsyncClient]:
    """The same tests through httpx.ASGITransport and through a real uvicorn socket."""
    async with serving(create_app(container), base, server_kind) as client:
        yield client


def set_cookies(response: httpx.Response) -> dict[str, str]:
    return {
        value.split("=", 1)[0]: value
        for value in response.headers.get_list("set-cookie")
    }


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_login_flow_in_json_mode_then_me(client, container):
    body = await log_in(client, "Ada@Example.com", name="Ada")
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 86400
    assert body["user"]["email"] == "Ada@Example.com"
    assert body["user"]["display_name"] == "Ada"
    me = await client.get("/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.json() == body["user"]
    stored = container.user_repository().get(body["user"]["user_id"])
    assert (stored.oauth_provider, stored.oauth_provider_sub) == (
        "local",
        "ada@example.com",
    )


async def test_second_login_is_the_same_user(client):
    first = await log_in(client, "grace@example.com")
    second = await log_in(client, "GRACE@example.com ")
    assert first["user"]["user_id"] == second["user"]["user_id"]


async def test_callback_answers_carry_no_store_and_no_referrer(client):
    callback = await sign_in(client)
    response = await client.get(callback)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    cookies = set_cookies(response)
    assert "Max-Age=0" in cookies["wikibot_auth_login"]
    assert "wikibot_auth_token" not in cookies  # JSON mode: the token is in the body


async def test_browser_mode_redirects_to_return_to_with_the_token_cookie(client):
    callback = await sign_in(client, return_to="/wiki/page?x=1")
    response = await client.get(callback, headers={"accept": "text/html,*/*"})
    assert response.status_code == 303
    assert response.headers["location"] == "/wiki/page?x=1"
    cookies = set_cookies(response)
    token_cookie = cookies["wikibot_auth_token"]
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/;", "Max-Age=86400"):
        assert attribute in token_cookie
    assert "Secure" not in token_cookie  # plain http on a loopback host
    assert "Max-Age=0" in cookies["wikibot_auth_login"]
    me = await client.get("/me")  # the cookie jar sends the token cookie
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.com"


async def test_login_cookie_is_signed_scoped_and_short_lived(client, base):
    response = await start_login(client, "/x")
    cookie = set_cookies(response)["wikibot_auth_login"]
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/;", "Max-Age=600"):
        assert attribute in cookie
    location = response.headers["location"]
    assert location.startswith(f"{base}/auth/local/sign-in?")
    query = query_of(location)
    assert query["code_challenge_method"] == "S256"
    assert query["state"] not in cookie  # base64url JSON, not the raw value


async def test_cookies_are_secure_behind_https(tmp_path, private_key):
    container, _ = scripted_container(tmp_path, private_key, "https://auth.example")
    async with client_for(create_app(container), "https://auth.example") as client:
        response = await start_login(client)
    cookie = set_cookies(response)["__Host-wikibot_auth_login"]
    assert "; Secure" in cookie
    assert "Path=/;" in cookie
    assert "domain=" not in cookie.lower()
    assert "wikibot_auth_login" not in set_cookies(response)  # no bare name


async def test_callback_without_the_login_cookie_is_invalid_callback(client):
    callback = await sign_in(client)
    client.cookies.clear()
    response = await client.get(callback)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_callback"
    assert "Max-Age=0" in set_cookies(response)["wikibot_auth_login"]


async def test_two_login_cookies_are_an_invalid_callback(client):
    # A sibling subdomain can plant a second login cookie (with its own state
    # and code): whichever one a parser picks, the callback must refuse both.
    callback = await sign_in(client)
    real = client.cookies["wikibot_auth_login"]
    client.cookies.clear()
    planted = f"wikibot_auth_login=planted.value; wikibot_auth_login={real}"
    response = await client.get(callback, headers={"cookie": planted})
    assert (response.status_code, response.json()["error"]) == (
        400,
        "invalid_callback",
    )


async def test_two_token_cookies_count_as_none(client):
    body = await log_in(client)
    client.cookies.clear()
    for order in ((body["token"], "planted"), ("planted", body["token"])):
        cookie = "; ".join(f"wikibot_auth_token={value}" for value in order)
        response = await client.get("/me", headers={"cookie": cookie})
        assert (response.status_code, response.json()["error"]) == (
            401,
            "missing_token",
        )
    once = await client.get(
        "/me", headers={"cookie": f"wikibot_auth_token={body['token']}"}
    )
    assert once.status_code == 200


async def test_a_secure_site_ignores_the_plantable_bare_token_cookie(
    tmp_path, private_key
):
    container, _ = scripted_container(tmp_path, private_key, "https://auth.example")
    token = container.token_signer().create_token("usr_x")
    async with client_for(create_app(container), "https://auth.example") as client:
        bare = await client.get(
            "/me", headers={"cookie": f"wikibot_auth_token={token}"}
        )
        prefixed = await client.get(
            "/me", headers={"cookie": f"__Host-wikibot_auth_token={token}"}
        )
    assert bare.json()["error"] == "missing_token"
    assert prefixed.json()["error"] == "unknown_user"  # read, verified, no such user


async def test_callback_with_a_forged_state_is_invalid_callback(client):
    callback = await sign_in(client)
    code = query_of(callback)["code"]
    response = await client.get(
        "/auth/callback", params={"code": code, "state": "forged"}
    )
    assert response.json()["error"] == "invalid_callback"


async def test_callback_with_a_tampered_cookie_is_invalid_callback(client):
    callback = await sign_in(client)
    value = client.cookies["wikibot_auth_login"]
    client.cookies.clear()
    payload, mac = value.split(".")
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + mac
    response = await client.get(
        callback, headers={"cookie": f"wikibot_auth_login={tampered}"}
    )
    assert response.json()["error"] == "invalid_callback"


async def test_replayed_callback(client):
    callback = await sign_in(client)
    cookie = client.cookies["wikibot_auth_login"]
    assert (await client.get(callback)).status_code == 200
    # the browser dropped the cookie: no state left to match
    client.cookies.clear()
    assert (await client.get(callback)).json()["error"] == "invalid_callback"
    # an attacker replays a copied cookie: the single-use code is gone
    replay = await client.get(
        callback, headers={"cookie": f"wikibot_auth_login={cookie}"}
    )
    assert replay.json()["error"] == "login_failed"


async def test_expired_login_cookie_is_invalid_callback(tmp_path, private_key):
    container = web_container(tmp_path, private_key)
    clock = FixedClock()
    container.clock.override(providers.Object(clock))
    async with client_for(create_app(container)) as client:
        callback = await sign_in(client)
        clock.advance(601)
        response = await client.get(callback)
    assert response.json()["error"] == "invalid_callback"


async def test_an_error_callback_is_login_failed(client):
    await start_login(client)
    response = await client.get(
        "/auth/callback", params={"error": "access_denied", "state": "x"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "login_failed"


@pytest.mark.parametrize(
    "return_to",
    [
        "//evil.example",
        "/\\evil.example",
        "https:evil.example",
        "javascript:alert(1)",
        "https://evil.example/",
        "evil.example",
        "/ok\r\nSet-Cookie: x=1",
    ],
)
async def test_return_to_must_be_a_local_path(client, return_to):
    response = await client.get("/auth/login", params={"return_to": return_to})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "set-cookie" not in response.headers


async def test_me_without_credentials_is_missing_token(client):
    response = await client.get("/me")
    assert response.status_code == 401
    assert response.json() == {
        "error": "missing_token",
        "error_description": "Authentication is required.",
    }
    assert response.headers["www-authenticate"] == 'Bearer realm="wikibot.io"'


async def test_a_bad_token_is_invalid_token(client):
    response = await client.get("/me", headers=bearer("not.a.jwt"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_two_authorization_headers_are_invalid_request(client):
    token = (await log_in(client))["token"]
    headers = [("authorization", f"Bearer {token}")] * 2
    response = await client.get("/me", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_a_disabled_user_is_forbidden(client, container):
    body = await log_in(client)
    container.set_user_disabled()(body["user"]["user_id"], True)
    response = await client.get("/me", headers=bearer(body["token"]))
    assert (response.status_code, response.json()["error"]) in {
        (403, "user_disabled"),
    }


async def test_cookie_post_needs_a_matching_origin(client, base):
    callback = await sign_in(client)
    await client.get(callback, headers={"accept": "text/html"})
    no_origin = await client.post("/auth/logout")
    assert (no_origin.status_code, no_origin.json()["error"]) == (403, "csrf_rejected")
    wrong = await client.post(
        "/auth/logout", headers={"origin": "https://evil.example"}
    )
    assert wrong.json()["error"] == "csrf_rejected"
    ok = await client.post("/auth/logout", headers={"origin": base})
    assert ok.status_code == 204
    assert "Max-Age=0" in set_cookies(ok)["wikibot_auth_token"]
    assert (await client.get("/me")).status_code == 401


async def test_logout_needs_auth(client):
    response = await client.post("/auth/logout")
    assert response.json()["error"] == "missing_token"


async def test_logout_keeps_other_tokens_valid(client):
    token = (await log_in(client))["token"]
    assert (await client.post("/auth/logout", headers=bearer(token))).status_code == 204
    assert (await client.get("/me", headers=bearer(token))).status_code == 200


async def test_logout_everywhere_revokes_every_token(tmp_path, private_key):
    container = web_container(tmp_path, private_key)
    clock = FixedClock()
    container.clock.override(providers.Object(clock))
    async with client_for(create_app(container)) as client:
        token = (await log_in(client))["token"]
        response = await client.post(
            "/auth/logout", params={"everywhere": "true"}, headers=bearer(token)
        )
        assert response.status_code == 204
        revoked = await client.get("/me", headers=bearer(token))
        assert revoked.json()["error"] == "token_revoked"
        clock.advance(1)
        fresh = (await log_in(client))["token"]
        assert (await client.get("/me", headers=bearer(fresh))).status_code == 200


async def test_jwks_and_health(client, container):
    jwks = await client.get("/.well-known/jwks.json")
    assert jwks.json() == container.token_signer().jwks()
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_openid_configuration_only_for_an_https_issuer(
    client, tmp_path, private_key
):
    assert (await client.get("/.well-known/openid-configuration")).status_code == 404
    container = web_container(
        tmp_path, private_key, WIKIBOT_AUTH_ISSUER="https://auth.example"
    )
    async with client_for(create_app(container)) as https_client:
        body = (await https_client.get("/.well-known/openid-configuration")).json()
    assert body["issuer"] == "https://auth.example"
    assert body["jwks_uri"] == "https://auth.example/.well-known/jwks.json"
    assert body["id_token_signing_alg_values_supported"] == ["RS256"]


async def test_sign_in_page_is_404_without_the_local_idp(tmp_path, private_key):
    container = web_container(tmp_path, private_key, WIKIBOT_AUTH_IDP="none")
    async with client_for(create_app(container)) as client:
        assert (await client.get("/auth/local/sign-in")).status_code == 404
        posted = await client.post("/auth/local/sign-in", data={"email": "a@b.c"})
        assert posted.status_code == 404
        login = await client.get("/auth/login")
        assert (login.status_code, login.json()["error"]) == (500, "not_configured")


async def test_sign_in_page_escapes_what_it_echoes(client):
    response = await client.get(
        "/auth/local/sign-in",
        params={"state": '"><script>alert(1)</script>', "code_challenge": "<b>"},
    )
    assert "<script>" not in response.text
    assert "&lt;b&gt;" in response.text


async def test_sign_in_with_a_bad_email_is_invalid_request(client):
    login = await start_login(client)
    query = query_of(login.headers["location"])
    response = await client.post(
        "/auth/local/sign-in",
        data={
            "email": "nobody",
            "state": query["state"],
            "code_challenge": query["code_challenge"],
        },
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


async def test_no_secret_reaches_the_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    callback = await sign_in(client)
    query = query_of(callback)
    verifier_cookie = client.cookies["wikibot_auth_login"]
    body = (await client.get(callback)).json()
    await client.get("/me", headers=bearer(body["token"] + "x"))
    # everything but the test client's own request log
    server_log = "\n".join(
        r.getMessage()
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore"))
    )
    payload = verifier_cookie.partition(".")[0]
    login = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert login["state"] == query["state"]
    for secret in (
        query["code"],
        query["state"],
        body["token"],
        verifier_cookie,
        login["verifier"],  # the raw PKCE verifier
    ):
        assert secret not in server_log
    assert "login.succeeded" in server_log


class SlowStore(InMemoryUserRepository):
    """``get`` waits for ``release`` (10 s at most)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.slow = False

    def get(self, user_id: str) -> User | None:
        if self.slow:
            self.entered.set()
            if not self.release.wait(10):
                raise StoreUnavailable("released too late: the event loop was blocked")
        return super().get(user_id)


@pytest.fixture
async def slow_store(tmp_path, private_key) -> AsyncIterator[Any]:
    """(client, store, token): a token logged in, then a store that is slow."""
    container = web_container(tmp_path, private_key)
    store = SlowStore()
    container.user_repository.override(providers.Object(store))
    async with client_for(create_app(container)) as client:
        token = (await log_in(client))["token"]
        store.slow = True
        yield client, store, token


async def test_a_slow_store_does_not_block_the_event_loop(slow_store):
    client, store, token = slow_store
    slow = asyncio.create_task(client.get("/me", headers=bearer(token)))
    assert await asyncio.to_thread(store.entered.wait, 10)
    other = await client.get("/healthz")  # completes while the store waits
    assert other.status_code == 200
    store.release.set()
    assert (await slow).status_code == 200


async def test_store_unavailable_is_503_with_retry_after(slow_store):
    client, store, token = slow_store
    store.release.wait = lambda timeout=None: False  # type: ignore[method-assign]
    response = await client.get("/me", headers=bearer(token))
    assert (response.status_code, response.json()["error"]) == (
        503,
        "store_unavailable",
    )
    assert response.headers["retry-after"] == "1"


# Third-party apps using the middleware -------------------------------------


def starlette_app(container: Container, **kwargs: Any) -> Any:
    async def whoami(request: Request) -> JSONResponse:
        user = request.user
        return JSONResponse(
            {
                "authenticated": user.is_authenticated,
                "name": user.display_name,
                "id": user.identity,
                "scopes": request.auth.scopes,
            }
        )

    @requires("authenticated")
    async def private(request: Request) -> JSONResponse:
        return JSONResponse({"email": request.user.user.email})

    app = Starlette(routes=[Route("/", whoami), Route("/private", private)])
    return AuthMiddleware(app, authenticate=container.authenticate(), **kwargs)


async def test_a_starlette_app_sees_request_user(client, container):
    body = await log_in(client)
    async with client_for(starlette_app(container)) as app_client:
        anonymous = (await app_client.get("/")).json()
        assert anonymous == {"authenticated": False, "name": "", "id": "", "scopes": []}
        assert (await app_client.get("/private")).status_code == 403
        who = (await app_client.get("/", headers=bearer(body["token"]))).json()
        assert who == {
            "authenticated": True,
            "name": "Ada Lovelace",
            "id": body["user"]["user_id"],
            "scopes": ["authenticated"],
        }
        private = await app_client.get("/private", headers=bearer(body["token"]))
        assert private.json() == {"email": "ada@example.com"}


async def test_required_may_be_a_predicate(client, container):
    app = starlette_app(container, required=lambda scope: scope["path"] == "/private")
    async with client_for(app) as app_client:
        assert (await app_client.get("/")).status_code == 200
        response = await app_client.get("/private")
        assert (response.status_code, response.json()["error"]) == (
            401,
            "missing_token",
        )


async def test_a_fastapi_app_sees_request_user(client, container):
    api = FastAPI()

    @api.get("/hello")
    async def hello(request: FastAPIRequest) -> dict[str, Any]:
        return {"hello": request.user.display_name, "auth": request.auth.scopes}

    api.add_middleware(AuthMiddleware, authenticate=container.authenticate())
    body = await log_in(client)
    async with client_for(api) as app_client:
        response = await app_client.get("/hello", headers=bearer(body["token"]))
        assert response.json() == {"hello": "Ada Lovelace", "auth": ["authenticated"]}
        bad = await app_client.get("/hello", headers=bearer("x.y.z"))
        assert bad.status_code == 401


async def test_other_scopes_pass_through_untouched(container):
    seen: list[dict[str, Any]] = []

    async def app(scope, receive, send):
        seen.append(scope)

    middleware = AuthMiddleware(
        app, authenticate=container.authenticate(), required=True
    )
    await middleware({"type": "lifespan"}, None, None)
    assert seen == [{"type": "lifespan"}]


async def test_a_websocket_with_a_bad_token_is_closed(container):
    sent: list[dict[str, Any]] = []

    async def app(scope, receive, send):  # pragma: no cover - never reached
        raise AssertionError("the app must not run")

    async def send(message):
        sent.append(message)

    middleware = AuthMiddleware(app, authenticate=container.authenticate())
    scope = {"type": "websocket", "headers": [(b"authorization", b"Bearer x.y.z")]}
    await middleware(scope, None, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


async def test_cookie_auth_can_be_turned_off(tmp_path, private_key):
    container = web_container(tmp_path, private_key, WIKIBOT_AUTH_COOKIE_AUTH="false")
    async with client_for(create_app(container)) as client:
        body = await log_in(client)
        client.cookies.set("wikibot_auth_token", body["token"])
        assert (await client.get("/me")).json()["error"] == "missing_token"
        me = await client.get("/me", headers=bearer(body["token"]))
        assert me.status_code == 200


async def test_create_app_reads_the_environment(monkeypatch, tmp_path, private_key):
    from tests.integration.web import web_env

    for name, value in web_env(tmp_path, private_key).items():
        monkeypatch.setenv(name, value)
    async with client_for(create_app()) as client:
        body = await log_in(client)
        me = await client.get("/me", headers=bearer(body["token"]))
    assert me.json() == body["user"]
