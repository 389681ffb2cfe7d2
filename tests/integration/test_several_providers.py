"""Several identity providers at once, through the routes: WorkOS, an OpenID
provider (``acme``) and GitHub, each a real HTTP stand-in. The chooser,
``?provider=``, ``/auth/providers``, each provider's own callback, and the
IdP mix-up defence (RFC 9700 §4.4): a code that comes back to another
provider's callback than its login went to reaches no token endpoint."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.integration.github_standin import CLIENT_SECRET as GITHUB_SECRET
from tests.integration.github_standin import GitHubStandIn
from tests.integration.oidc_standin import CLIENT_ID as OIDC_CLIENT
from tests.integration.oidc_standin import CLIENT_SECRET as OIDC_SECRET
from tests.integration.oidc_standin import SUBJECT, OIDCStandIn, sign
from tests.integration.web import client_for, query_of, web_env
from tests.integration.workos_standin import API_KEY, WorkOSStandIn
from wikibot_auth.domain.model import Identity
from wikibot_auth.entrypoints.asgi import create_app
from wikibot_auth.entrypoints.containers import Container, create_container

pytestmark = pytest.mark.anyio

BASE = "https://wiki.example"
LOGIN_COOKIE = "__Host-wikibot_auth_login"
JSON = {"accept": "application/json"}
HTML = {"accept": "text/html,application/xhtml+xml"}


def several_env(
    tmp_path, private_key, workos: WorkOSStandIn, acme: OIDCStandIn, github, **extra
) -> dict[str, str]:
    return web_env(
        tmp_path,
        private_key,
        BASE,
        WIKIBOT_AUTH_IDP="workos,acme,github",
        **workos.environ(),
        WIKIBOT_AUTH_OIDC_ACME_ISSUER=acme.url,
        WIKIBOT_AUTH_OIDC_ACME_CLIENT_ID=OIDC_CLIENT,
        WIKIBOT_AUTH_OIDC_ACME_CLIENT_SECRET=OIDC_SECRET,
        **github.environ(),
        **extra,
    )


class Peers:
    """The three stand-ins, and what each would answer a browser with."""

    def __init__(
        self, workos: WorkOSStandIn, acme: OIDCStandIn, github: GitHubStandIn
    ) -> None:
        self.workos, self.acme, self.github = workos, acme, github

    def callback(self, name: str, authorize_url: str) -> str:
        """The callback URL provider ``name`` redirects to after a login."""
        query = query_of(authorize_url)
        challenge = query["code_challenge"]
        if name == "workos":
            code = self.workos.issue_code(challenge, "google")
        elif name == "acme":
            token = sign(self.acme.claims(query["nonce"]))
            code = self.acme.issue_code(challenge, token)
        else:
            code = self.github.issue_code(challenge)
        answer = {"code": code, "state": query["state"]}
        return f"{query['redirect_uri']}?{urlencode(answer)}"

    def token_calls(self) -> dict[str, int]:
        return {
            "workos": len(self.workos.calls("authenticate")),
            "acme": len(self.acme.calls("token")),
            "github": len(self.github.calls("token")),
        }


@pytest.fixture
def peers(standin, oidc_standin, github_standin) -> Peers:
    return Peers(standin, oidc_standin, github_standin)


@pytest.fixture
def container(tmp_path, private_key, peers) -> Container:
    return create_container(
        several_env(tmp_path, private_key, peers.workos, peers.acme, peers.github)
    )


@pytest.fixture
async def client(container) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(container), BASE) as http:
        yield http
    container.shutdown_resources()


async def login(client: httpx.AsyncClient, name: str | None) -> httpx.Response:
    params = {} if name is None else {"provider": name}
    response = await client.get("/auth/login", params=params, headers=JSON)
    assert response.status_code == 302, response.text
    return response


# -- the list, the chooser, ?provider= ----------------------------------------


async def test_auth_providers_lists_name_and_kind_the_default_first(client):
    response = await client.get("/auth/providers")
    assert response.status_code == 200
    assert response.json() == [
        {"name": "workos", "kind": "workos"},
        {"name": "acme", "kind": "oidc"},
        {"name": "github", "kind": "github"},
    ]
    assert response.headers["cache-control"] == "no-store"


async def test_a_browser_facing_several_providers_gets_the_chooser(client, peers):
    response = await client.get("/auth/login?return_to=/me", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "set-cookie" not in response.headers
    assert response.headers["cache-control"] == "no-store"
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    for name in ("workos", "acme", "github"):
        link = f'href="login?provider={name}&amp;return_to=%2Fme"'
        assert link in response.text, name
    assert peers.acme.requests == []  # the page asks no provider anything


async def test_each_link_of_the_chooser_starts_that_providers_login(client):
    page = await client.get("/auth/login", headers=HTML)
    assert 'href="login?provider=github"' in page.text
    followed = await client.get(
        httpx.URL(f"{BASE}/auth/login").join("login?provider=github"), headers=HTML
    )
    assert followed.status_code == 302
    assert "/login/oauth/authorize?" in followed.headers["location"]


async def test_an_api_client_without_provider_gets_the_default(client, peers):
    response = await login(client, None)
    assert response.headers["location"].startswith(peers.workos.url)
    assert query_of(response.headers["location"])["redirect_uri"] == (
        f"{BASE}/auth/callback/workos"
    )


async def test_provider_picks_the_provider_and_its_callback(client, container, peers):
    response = await login(client, "acme")
    location = response.headers["location"]
    query = query_of(location)
    assert location.startswith(f"{peers.acme.url}/authorize?")
    assert query["redirect_uri"] == f"{BASE}/auth/callback/acme"
    cookie = container.login_state().loads(client.cookies[LOGIN_COOKIE])
    assert (cookie.provider, cookie.nonce) == ("acme", query["nonce"])
    assert cookie.state == query["state"]


async def test_only_an_openid_login_carries_a_nonce(client, container):
    for name in ("workos", "github"):
        response = await login(client, name)
        assert "nonce" not in query_of(response.headers["location"]), name
        assert container.login_state().loads(client.cookies[LOGIN_COOKIE]).nonce is None


@pytest.mark.parametrize(
    "query", ["provider=okta", "provider=", "provider=acme&provider=github"]
)
async def test_an_unknown_or_repeated_provider_is_invalid_request(client, query):
    for headers in (JSON, HTML):
        response = await client.get(f"/auth/login?{query}", headers=headers)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert "set-cookie" not in response.headers


# -- each provider's own callback --------------------------------------------


@pytest.mark.parametrize(
    ("name", "identity"),
    [
        ("workos", ("google", "108872335")),
        ("acme", ("acme", SUBJECT)),
        ("github", ("github", "1")),
    ],
)
async def test_each_provider_logs_in_through_its_own_callback(
    client, container, peers, name, identity
):
    callback = peers.callback(name, (await login(client, name)).headers["location"])
    assert urlsplit(callback).path == f"/auth/callback/{name}"
    response = await client.get(callback, headers=JSON)
    assert response.status_code == 200, response.text
    user = response.json()["user"]
    found = container.user_repository().find_by_identity(Identity(*identity))
    assert found is not None
    assert found.user_id == user["user_id"]
    others = {k: v for k, v in peers.token_calls().items() if k != name}
    assert set(others.values()) == {0}


async def test_a_browser_callback_sets_the_token_cookie_and_returns(client, peers):
    page = await client.get("/auth/login?provider=acme&return_to=/me", headers=HTML)
    callback = peers.callback("acme", page.headers["location"])
    response = await client.get(callback, headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/me"
    me = await client.get("/me", headers=JSON)
    assert me.json()["email"] == "ada@example.com"


# -- the mix-up defence -------------------------------------------------------


@pytest.mark.parametrize(
    ("went_to", "came_back_to"),
    [("github", "acme"), ("acme", "github"), ("workos", "acme"), ("acme", "workos")],
)
async def test_a_code_at_another_providers_callback_reaches_no_token_endpoint(
    client, peers, went_to, came_back_to
):
    """The login cookie says ``went_to``; the browser arrives (with a code and
    the right state) at ``came_back_to``'s callback: a mix-up attack, or a
    provider answering for another. Nothing is exchanged anywhere."""
    started = await login(client, went_to)
    callback = peers.callback(went_to, started.headers["location"])
    mixed = callback.replace(f"/callback/{went_to}?", f"/callback/{came_back_to}?")
    response = await client.get(mixed, headers=JSON)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_callback"
    assert peers.token_calls() == {"workos": 0, "acme": 0, "github": 0}
    assert f"{LOGIN_COOKIE}=;" in response.headers["set-cookie"]


async def test_the_bare_callback_serves_no_provider_when_there_are_several(
    client, peers
):
    callback = peers.callback("acme", (await login(client, "acme")).headers["location"])
    bare = callback.replace("/auth/callback/acme?", "/auth/callback?")
    response = await client.get(bare, headers=JSON)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_callback")
    assert peers.token_calls() == {"workos": 0, "acme": 0, "github": 0}


async def test_a_callback_of_an_unconfigured_provider_is_invalid_callback(
    client, peers
):
    callback = peers.callback("acme", (await login(client, "acme")).headers["location"])
    response = await client.get(callback.replace("/acme?", "/okta?"), headers=JSON)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_callback")
    assert peers.token_calls()["acme"] == 0


async def test_a_login_cookie_without_a_provider_is_invalid_callback(
    client, container, peers
):
    """A login started before the upgrade: its code's provider is unknown, so
    the login starts again rather than send the code to a guess."""
    callback = peers.callback("acme", (await login(client, "acme")).headers["location"])
    codec = container.login_state()
    state = codec.loads(client.cookies[LOGIN_COOKIE])
    body = {
        "state": state.state,
        "verifier": state.verifier,
        "return_to": "/",
        "exp": state.exp,
    }
    payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    client.cookies.set(LOGIN_COOKIE, f"{payload}.{codec._mac(payload)}")
    response = await client.get(callback, headers=JSON)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_callback")
    assert peers.token_calls()["acme"] == 0


async def test_head_is_refused_on_every_callback(client, peers):
    callback = peers.callback("acme", (await login(client, "acme")).headers["location"])
    for url in (callback, callback.replace("/auth/callback/acme?", "/auth/callback?")):
        assert (await client.head(url)).status_code == 405
    assert peers.token_calls()["acme"] == 0
    assert (await client.get(callback, headers=JSON)).status_code == 200


@pytest.mark.parametrize("param", ["code", "state", "iss"])
async def test_a_repeated_callback_parameter_is_invalid_callback(client, peers, param):
    callback = peers.callback("acme", (await login(client, "acme")).headers["location"])
    response = await client.get(f"{callback}&{param}=x&{param}=y", headers=JSON)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_callback")
    assert peers.token_calls()["acme"] == 0


async def test_an_advertised_iss_is_required_and_checked(client, peers):
    peers.acme.discovery["authorization_response_iss_parameter_supported"] = True
    for iss, expected in [(None, 400), ("https://evil.example", 400)]:
        started = await login(client, "acme")
        callback = peers.callback("acme", started.headers["location"])
        if iss is not None:
            callback += "&" + urlencode({"iss": iss})
        response = await client.get(callback, headers=JSON)
        assert (response.status_code, response.json()["error"]) == (
            expected,
            "invalid_callback",
        )
    assert peers.token_calls()["acme"] == 0
    started = await login(client, "acme")
    callback = peers.callback("acme", started.headers["location"])
    response = await client.get(
        f"{callback}&{urlencode({'iss': peers.acme.url})}", headers=JSON
    )
    assert response.status_code == 200, response.text


# -- discovery on first use: its failures through the error table -------------


@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [
        ("500", 502, "idp_error"),
        ("malformed", 502, "idp_error"),
        ("reset", 503, "idp_unavailable"),
        ("429", 503, "idp_unavailable"),
    ],
)
async def test_discovery_down_at_login_answers_the_json_error(
    client, peers, mode, status, code
):
    peers.acme.fail("discovery", mode, times=4)  # reads are retried once
    for headers in (JSON, HTML):
        response = await client.get("/auth/login?provider=acme", headers=headers)
        assert response.status_code == status
        assert response.json()["error"] == code
        assert "set-cookie" not in response.headers
        if status == 503:
            assert int(response.headers["retry-after"]) >= 1
    other = await login(client, "github")  # the other providers still work
    assert "/login/oauth/authorize?" in other.headers["location"]


async def test_the_login_logs_no_secret_of_any_provider(client, peers, caplog):
    caplog.set_level(logging.DEBUG)
    started = await login(client, "acme")
    query = query_of(started.headers["location"])
    callback = peers.callback("acme", started.headers["location"])
    response = await client.get(callback, headers=JSON)
    assert response.status_code == 200
    text = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("wikibot_auth")
    )
    assert "login.succeeded" in text
    secrets = [
        query["state"],
        query["nonce"],
        query_of(callback)["code"],
        response.json()["token"],
        OIDC_SECRET,
        GITHUB_SECRET,
        API_KEY,
    ]
    assert [s for s in secrets if s in text] == []


# -- a lone provider keeps the bare callback ----------------------------------


@pytest.fixture
async def lone_github(tmp_path, private_key, github_standin):
    container = create_container(
        web_env(
            tmp_path,
            private_key,
            BASE,
            WIKIBOT_AUTH_IDP="github",
            **github_standin.environ(),
        )
    )
    async with client_for(create_app(container), BASE) as http:
        yield http
    container.shutdown_resources()


@pytest.mark.parametrize("path", ["/auth/callback", "/auth/callback/github"])
async def test_a_lone_provider_is_sent_and_served_the_bare_callback(
    lone_github, peers, path
):
    providers = await lone_github.get("/auth/providers")
    assert providers.json() == [{"name": "github", "kind": "github"}]
    started = await lone_github.get("/auth/login", headers=HTML)  # no chooser
    assert started.status_code == 302
    callback = peers.callback("github", started.headers["location"])
    assert urlsplit(callback).path == "/auth/callback"  # what was registered
    response = await lone_github.get(
        callback.replace("/auth/callback?", f"{path}?"), headers=JSON
    )
    assert response.status_code == 200, response.text
    token_form = parse_qs(peers.github.calls("token")[0][3])
    assert token_form["redirect_uri"] == [f"{BASE}/auth/callback"]


# -- Lambda: the same routes through Mangum ------------------------------------


@pytest.mark.parametrize("kind", ["rest_proxy", "http_v2_proxy"])
def test_the_lambda_handler_serves_each_providers_callback(
    tmp_path, private_key, peers, kind
):
    from tests.integration.test_lambda import API, LambdaClient, header
    from wikibot_auth.entrypoints import aws_lambda

    environ = several_env(
        tmp_path,
        private_key,
        peers.workos,
        peers.acme,
        peers.github,
        WIKIBOT_AUTH_REDIRECT_URI=f"{API}/auth/callback",
        AWS_LAMBDA_FUNCTION_NAME="wikibot-auth-login",
    )
    peers.acme.redirect = f"{API}/auth/callback/acme"
    container = create_container(environ)
    aws_lambda.configure(container)
    try:
        client = LambdaClient(kind)
        listed = client.request("GET", f"{API}/auth/providers")
        assert [p["name"] for p in json.loads(listed["body"])] == [
            "workos",
            "acme",
            "github",
        ]
        started = client.request("GET", f"{API}/auth/login?provider=acme")
        assert started["statusCode"] == 302
        callback = peers.callback("acme", header(started, "location"))
        mixed = client.request("GET", callback.replace("/acme?", "/workos?"))
        assert json.loads(mixed["body"])["error"] == "invalid_callback"
        started = client.request("GET", f"{API}/auth/login?provider=acme")
        callback = peers.callback("acme", header(started, "location"))
        answer = client.request("GET", callback)
        assert answer["statusCode"] == 200, answer
        assert json.loads(answer["body"])["user"]["email"] == "ada@example.com"
        assert peers.token_calls() == {"workos": 0, "acme": 1, "github": 0}
    finally:
        aws_lambda.configure(None)
        container.shutdown_resources()


# -- the local IdP in a list, on loopback ---------------------------------------


async def test_the_local_idp_beside_another_signs_in_through_its_own_callback(
    tmp_path, private_key, oidc_standin
):
    from tests.integration.web import BASE as LOOPBACK
    from tests.integration.web import sign_in

    container = create_container(
        web_env(
            tmp_path,
            private_key,
            WIKIBOT_AUTH_IDP="local,acme",
            WIKIBOT_AUTH_OIDC_ACME_ISSUER=oidc_standin.url,
            WIKIBOT_AUTH_OIDC_ACME_CLIENT_ID=OIDC_CLIENT,
        )
    )
    async with client_for(create_app(container), LOOPBACK) as client:
        chooser = await client.get("/auth/login", headers=HTML)
        assert 'href="login?provider=local"' in chooser.text
        assert 'href="login?provider=acme"' in chooser.text
        home = await client.get("/")
        assert "local, acme" in home.text
        callback = await sign_in(client, "lin@example.com")  # the default: local
        assert urlsplit(callback).path == "/auth/callback/local"
        response = await client.get(callback, headers=JSON)
        assert response.status_code == 200, response.text
        assert response.json()["user"]["email"] == "lin@example.com"
        # Still loopback-only while the local IdP is listed.
    async with client_for(create_app(container), "http://wiki.example") as other:
        refused = await other.get("/auth/providers")
        assert refused.status_code == 400
    container.shutdown_resources()
