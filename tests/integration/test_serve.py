"""``wikibot-auth serve``: a real uvicorn server driven over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import httpx
import pytest

from tests.integration.server import clean_environ, running_server
from tests.integration.web import query_of, sign_in
from wikibot_auth.domain.errors import NotConfigured
from wikibot_auth.entrypoints.cli import main
from wikibot_auth.entrypoints.settings import Settings


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("serve")
    environ = clean_environ(
        WIKIBOT_AUTH_DATA_DIR=str(tmp_path / "data"),
        WIKIBOT_AUTH_USER_STORE="memory://",
    )
    with running_server(tmp_path, environ) as running:
        yield running


async def flow(base: str) -> dict:
    seen: dict = {}
    async with httpx.AsyncClient(base_url=base) as client:
        callback = await sign_in(client, "hopper@example.com", "Grace Hopper")
        seen.update(query_of(callback))
        body = (await client.get(callback)).json()
        seen["token"] = body["token"]
        me = await client.get(
            "/me", headers={"authorization": f"Bearer {body['token']}"}
        )
        seen["me"] = me.json()
        seen["user"] = body["user"]
        # browser mode, then cookie auth with and without Origin
        callback = await sign_in(client, "hopper@example.com", return_to="/after")
        seen["browser_code"] = query_of(callback)["code"]
        redirect = await client.get(callback, headers={"accept": "text/html"})
        seen["redirect"] = (redirect.status_code, redirect.headers["location"])
        seen["cookie_me"] = (await client.get("/me")).status_code
        seen["no_origin"] = (await client.post("/auth/logout")).status_code
        seen["logout"] = (
            await client.post(
                "/auth/logout", params={"everywhere": "true"}, headers={"origin": base}
            )
        ).status_code
        after = await client.get(
            "/me", headers={"authorization": f"Bearer {body['token']}"}
        )
        seen["after_everywhere"] = after.json()["error"]
    return seen


def test_login_flow_over_a_real_socket(server):
    base, output = server
    seen = asyncio.run(flow(base))
    assert seen["me"] == seen["user"]
    assert seen["me"]["display_name"] == "Grace Hopper"
    assert seen["redirect"] == (303, "/after")
    assert seen["cookie_me"] == 200
    assert seen["no_origin"] == 403
    assert seen["logout"] == 204
    assert seen["after_everywhere"] == "token_revoked"
    log = output.read_text(errors="replace")
    assert "login.succeeded" in log
    for secret in (seen["code"], seen["state"], seen["browser_code"], seen["token"]):
        assert secret not in log
    assert "/auth/callback?" not in log


def _serve(host: str, port: int, **environ: str) -> tuple[str, str | None]:
    settings = Settings.for_serve(
        host, port, {"WIKIBOT_AUTH_USER_STORE": "memory://", **environ}
    )
    return settings.idp, settings.redirect_uri


def test_serve_uses_the_local_idp_only_on_loopback_in_development():
    assert _serve("127.0.0.1", 8000) == (
        "local",
        "http://127.0.0.1:8000/auth/callback",
    )
    assert _serve("::1", 9)[1] == "http://[::1]:9/auth/callback"
    assert _serve("0.0.0.0", 8000) == ("none", None)  # noqa: S104
    assert _serve("127.0.0.1", 8000, WORKOS_API_KEY="sk")[0] == "workos"
    assert _serve(
        "localhost", 8000, WIKIBOT_AUTH_REDIRECT_URI="https://a.example/cb"
    ) == (
        "local",
        "https://a.example/cb",
    )


def test_serve_in_production_never_picks_the_local_idp(tmp_path):
    settings = Settings.for_serve(
        "127.0.0.1",
        8000,
        {
            "WIKIBOT_AUTH_ENV": "production",
            "WIKIBOT_AUTH_PRIVATE_KEY_FILE": "k.pem",
            "WIKIBOT_AUTH_USER_STORE": "memory://",
        },
    )
    assert (settings.idp, settings.redirect_uri) == ("none", None)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::"])  # noqa: S104
def test_an_explicit_local_idp_is_refused_on_a_non_loopback_bind(
    host, monkeypatch, tmp_path, capsys
):
    with pytest.raises(NotConfigured, match="non-loopback"):
        _serve(host, 8000, WIKIBOT_AUTH_IDP="local")
    monkeypatch.setenv("WIKIBOT_AUTH_IDP", "local")
    monkeypatch.setenv("WIKIBOT_AUTH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WIKIBOT_AUTH_USER_STORE", "memory://")
    assert main(["serve", "--host", host, "--port", "8123"]) == 2  # before binding
    assert "non-loopback" in capsys.readouterr().err


def test_serve_in_production_without_a_key_names_the_variable(
    monkeypatch, tmp_path, capsys
):
    for name in ("WIKIBOT_AUTH_PRIVATE_KEY", "WIKIBOT_AUTH_PRIVATE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WIKIBOT_AUTH_ENV", "production")
    monkeypatch.setenv("WIKIBOT_AUTH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WIKIBOT_AUTH_USER_STORE", "memory://")
    assert main(["serve", "--port", "8123"]) == 2  # refused before binding
    assert "WIKIBOT_AUTH_PRIVATE_KEY" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["0", "65536"])
def test_serve_refuses_a_port_the_redirect_uri_cannot_name(port, capsys):
    assert main(["serve", "--port", port]) == 2
    assert "--port" in capsys.readouterr().err


def test_serve_help():
    assert main(["serve", "--help"]) == 0


def test_serve_on_a_taken_port_exits_2_with_a_hint_before_building_anything(
    tmp_path,
):
    data = tmp_path / "data"
    environ = clean_environ(
        WIKIBOT_AUTH_DATA_DIR=str(data), WIKIBOT_AUTH_USER_STORE="memory://"
    )
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        serve = [sys.executable, "-m", "wikibot_auth.entrypoints.cli", "serve"]
        proc = subprocess.run(
            [*serve, "--port", str(port)],
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.startswith(f"error: 127.0.0.1:{port} is already in use")
    assert "--port N" in proc.stderr
    assert 'make serve SERVE_ARGS="--port N"' in proc.stderr
    assert "Application startup complete" not in proc.stderr
    assert not data.exists()  # checked before a key was generated


def test_serve_names_a_loopback_host_as_a_browser_will():
    assert _serve("0:0:0:0:0:0:0:1", 9) == ("local", "http://[::1]:9/auth/callback")
    assert _serve("127.0.0.2", 9) == ("none", None)  # not a name the guard answers
    with pytest.raises(NotConfigured, match=r"127\.0\.0\.1, ::1, localhost"):
        _serve("127.0.0.2", 9, WIKIBOT_AUTH_IDP="local")


@pytest.mark.parametrize(
    ("env", "says"), [("development", "Lambda"), ("production", "production")]
)
def test_the_local_idp_is_refused_in_lambda_whatever_the_environment(
    env, says, tmp_path
):
    with pytest.raises(NotConfigured, match=says):
        Settings.from_env(
            {
                "AWS_LAMBDA_FUNCTION_NAME": "login",
                "WIKIBOT_AUTH_ENV": env,
                "WIKIBOT_AUTH_IDP": "local",
                "WIKIBOT_AUTH_PRIVATE_KEY_FILE": str(tmp_path / "k.pem"),
                "WIKIBOT_AUTH_USER_STORE": "memory://",
            }
        )
