"""What the routes do for a person at a browser, a link prefetcher and a client
that hangs up (the hardening issue's smaller findings)."""

from __future__ import annotations

import logging
import socket
import time

import httpx
import pytest

from tests.integration.server import free_port, serving_in_thread
from tests.integration.web import (
    client_for,
    log_in,
    query_of,
    sign_in,
    web_container,
)
from wikibot_auth.entrypoints.asgi import create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def app(tmp_path, private_key):
    return create_app(web_container(tmp_path, private_key))


async def test_head_on_the_callback_is_405_and_spends_no_code(app):
    async with client_for(app) as client:
        callback = await sign_in(client)
        head = await client.head(callback)
        assert head.status_code == 405
        assert "wikibot_auth_login" in client.cookies  # not expired either
        done = await client.get(callback, headers={"accept": "application/json"})
    assert done.status_code == 200  # the prefetcher did not spend the code


async def test_a_login_started_on_localhost_moves_to_the_redirect_uri_host(app):
    async with client_for(app, "http://localhost:8000") as client:
        response = await client.get("/auth/login", params={"return_to": "/me"})
    assert response.status_code == 302
    assert response.headers["location"] == (
        "http://127.0.0.1:8000/auth/login?return_to=%2Fme"
    )
    assert "set-cookie" not in response.headers  # the cookie is set over there


async def test_a_browser_without_a_token_is_sent_to_sign_in_from_me(app):
    async with client_for(app) as client:
        browser = await client.get("/me", headers={"accept": "text/html"})
        api = await client.get("/me", headers={"accept": "application/json"})
        bad = await client.get(
            "/me", headers={"accept": "text/html", "authorization": "Bearer x.y.z"}
        )
    assert (browser.status_code, browser.headers["location"]) == (
        303,
        "/auth/login?return_to=/me",
    )
    assert (api.status_code, api.json()["error"]) == (401, "missing_token")
    assert bad.json()["error"] == "invalid_token"  # a bad token is still refused


async def test_the_front_page_says_what_this_is_and_links_sign_in_and_me(app):
    async with client_for(app) as client:
        page = await client.get("/")
        login = query_of(
            next(
                line.split('"')[1]
                for line in page.text.splitlines()
                if "/auth/login" in line
            )
        )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "wikibot-auth" in page.text
    assert 'href="/me"' in page.text
    assert login == {"return_to": "/me"}
    assert "script-src" not in page.headers["content-security-policy"]
    assert "local" in page.text  # names the active IdP


async def test_a_browser_signed_in_through_me_comes_back_to_me(app):
    async with client_for(app) as client:
        first = await client.get("/me", headers={"accept": "text/html"})
        login = await client.get(first.headers["location"])
        assert login.status_code == 302
        callback = await sign_in(client, return_to="/me")
        done = await client.get(callback, headers={"accept": "text/html"})
        assert (done.status_code, done.headers["location"]) == (303, "/me")
        me = await client.get("/me", headers={"accept": "text/html"})
    assert me.status_code == 200  # the token cookie now
    assert me.json()["email"] == "ada@example.com"


async def test_a_client_that_hangs_up_mid_body_is_not_an_error(
    tmp_path, private_key, caplog
):
    caplog.set_level(logging.DEBUG)
    port = free_port()
    app = create_app(web_container(tmp_path, private_key, f"http://127.0.0.1:{port}"))
    request = (
        "POST /auth/local/sign-in HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 100\r\n\r\nemail=a"
    ).encode()
    with serving_in_thread(app, port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(request)
            time.sleep(0.3)  # the app is reading the body now
        time.sleep(0.5)  # the server notices the hang-up
        async with httpx.AsyncClient() as other:  # and still serves others
            assert (await other.get(f"http://127.0.0.1:{port}/healthz")).is_success
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert not any(r.exc_info for r in caplog.records if r.name == "wikibot_auth")


async def test_rejections_of_a_valid_tokens_user_are_logged_at_debug(
    tmp_path, private_key, caplog
):
    container = web_container(tmp_path, private_key)
    async with client_for(create_app(container)) as client:
        body = await log_in(client)
        container.user_repository().set_disabled(body["user"]["user_id"], True)
        unknown = container.token_signer().create_token("usr_nobody")
        with caplog.at_level(logging.DEBUG, logger="wikibot_auth"):
            for token in (body["token"], unknown):
                await client.get("/me", headers={"authorization": f"Bearer {token}"})
    logged = [r.code for r in caplog.records if r.getMessage() == "token.rejected"]
    assert logged == ["user_disabled", "unknown_user"]
    assert body["token"] not in caplog.text


async def test_a_browser_with_a_revoked_cookie_is_sent_to_sign_in_again(
    tmp_path, private_key
):
    container = web_container(tmp_path, private_key)
    async with client_for(create_app(container)) as client:
        callback = await sign_in(client, return_to="/me")
        await client.get(callback, headers={"accept": "text/html"})
        token = client.cookies["wikibot_auth_token"]
        me = await client.get("/me", headers={"accept": "text/html"})
        assert me.status_code == 200
        container.sign_out_everywhere()(me.json()["user_id"])
        again = await client.get("/me", headers={"accept": "text/html"})
        api = await client.get("/me", headers={"authorization": f"Bearer {token}"})
    assert (again.status_code, again.headers["location"]) == (
        303,
        "/auth/login?return_to=/me",
    )
    expired = again.headers["set-cookie"]
    assert expired.startswith("wikibot_auth_token=;")
    assert "Max-Age=0" in expired
    assert (api.status_code, api.json()["error"]) == (401, "token_revoked")


async def test_head_is_refused_on_the_callback_only(app):
    async with client_for(app) as client:
        assert (await client.head("/healthz")).status_code == 200
        assert (await client.head("/.well-known/jwks.json")).status_code == 200
        assert (await client.head("/auth/callback?code=c&state=s")).status_code == 405
