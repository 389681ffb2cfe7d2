"""The Lambda entrypoints with realistic API Gateway / Function URL events
(tests/integration/lambda_events/*.json, written from AWS's documentation)."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from dependency_injector import providers

from tests.integration.web import query_of, scripted_callback, web_env
from wikibot_auth.adapters.memory import (
    InMemoryUserRepository,
    ScriptedIdentityProvider,
)
from wikibot_auth.domain.errors import (
    IdPError,
    IdPUnavailable,
    LoginStepRequired,
    StoreUnavailable,
)
from wikibot_auth.domain.model import Identity, IdentityProfile
from wikibot_auth.entrypoints import aws_lambda
from wikibot_auth.entrypoints.aws_lambda import AuthorizerFailure, authorizer, handler
from wikibot_auth.entrypoints.containers import create_container

EVENTS = Path(__file__).parent / "lambda_events"
API = "https://abcdef123.execute-api.us-east-1.amazonaws.com"
PROXY_KINDS = ["rest_proxy", "http_v2_proxy", "function_url"]


def load(name: str, token: str = "") -> dict[str, Any]:
    text = (EVENTS / f"{name}.json").read_text()
    return json.loads(text.replace("{token}", token))


@pytest.fixture
def container(tmp_path, private_key, clock, idp):
    environ = web_env(
        tmp_path,
        private_key,
        base=API,
        AWS_LAMBDA_FUNCTION_NAME="wikibot-auth-login",
        WIKIBOT_AUTH_IDP="none",
    )
    built = create_container(environ)
    built.clock.override(providers.Object(clock))
    built.identity_provider.override(providers.Object(idp))
    aws_lambda.configure(built)
    yield built
    aws_lambda.configure(None)


@pytest.fixture
def user(container):
    repo = container.user_repository()
    profile = IdentityProfile(
        alias=Identity.local("ada@example.com"), email="ada@example.com"
    )
    from wikibot_auth.domain.model import User

    created, _ = repo.create(
        User.new("usr_ada", profile, 1_700_000_000), [Identity.local("ada@example.com")]
    )
    return created


@pytest.fixture
def token(container, user) -> str:
    return container.token_signer().create_token(user.user_id)


def public_keys_file(tmp_path: Path, private_key: Any) -> Path:
    """The authorizer's WIKIBOT_AUTH_PUBLIC_KEYS_FILE for ``private_key``."""
    keys = tmp_path / "public.pem"
    keys.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )
    return keys


def raises_unauthorized(event: dict[str, Any]) -> None:
    with pytest.raises(Exception) as info:  # noqa: PT011 - the exact type is asserted
        authorizer(event, None)
    assert type(info.value) is Exception
    assert info.value.args == ("Unauthorized",)


# --- authorizer ----------------------------------------------------------------


def test_token_authorizer_allows_with_a_stage_wide_policy(token):
    answer = authorizer(load("rest_token_authorizer", token), None)
    assert answer["principalId"] == "usr_ada"
    (statement,) = answer["policyDocument"]["Statement"]
    assert statement == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*/*",
    }
    assert answer["policyDocument"]["Version"] == "2012-10-17"
    assert answer["context"] == {
        "user_id": "usr_ada",
        "email": "ada@example.com",
        "display_name": "ada",
        "tier": "free",
    }
    assert all(isinstance(v, str | int | bool) for v in answer["context"].values())


def test_console_method_arn_keeps_its_partition(token):
    answer = authorizer(load("rest_token_authorizer_console", token), None)
    resource = answer["policyDocument"]["Statement"][0]["Resource"]
    assert resource == "arn:aws-cn:execute-api:cn-north-1:123456789012:ymy8tbxw7b/*/*/*"


def test_request_authorizer_reads_headers_in_any_casing(token):
    event = load("rest_request_authorizer", token)
    assert authorizer(event, None)["principalId"] == "usr_ada"
    event["headers"] = {k.lower(): v for k, v in event["headers"].items()}
    event["multiValueHeaders"] = None
    assert authorizer(event, None)["principalId"] == "usr_ada"


def test_two_authorization_values_are_refused(token):
    event = load("rest_request_authorizer", token)
    event["multiValueHeaders"]["Authorization"].append(f"Bearer {token}")
    raises_unauthorized(event)


def test_http_api_authorizer_answers_simply(token):
    answer = authorizer(load("http_v2_authorizer", token), None)
    assert answer == {
        "isAuthorized": True,
        "context": {
            "user_id": "usr_ada",
            "email": "ada@example.com",
            "display_name": "ada",
            "tier": "free",
        },
    }


def test_http_api_authorizer_answers_iam_when_configured(
    tmp_path, private_key, clock, token
):
    environ = web_env(tmp_path, private_key, WIKIBOT_AUTH_AUTHORIZER_RESPONSE="iam")
    container = create_container(environ)
    container.clock.override(providers.Object(clock))
    container.user_repository.override(
        providers.Object(aws_lambda.get_container().user_repository())
    )
    aws_lambda.configure(container)
    answer = authorizer(load("http_v2_authorizer", token), None)
    assert answer == {
        "principalId": "usr_ada",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": "arn:aws:execute-api:us-east-1:123456789012:"
                    "abcdef123/$default/*/*",
                }
            ],
        },
        "context": {
            "user_id": "usr_ada",
            "email": "ada@example.com",
            "display_name": "ada",
            "tier": "free",
        },
    }


def test_a_disabled_user_gets_an_explicit_deny(container, token):
    container.set_user_disabled()("usr_ada", True)
    answer = authorizer(load("rest_token_authorizer", token), None)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert answer["principalId"] == "usr_ada"
    assert answer["context"] == {"error": "user_disabled"}
    assert authorizer(load("http_v2_authorizer", token), None) == {
        "isAuthorized": False
    }


@pytest.mark.parametrize(
    "breaking",
    ["missing", "other_scheme", "garbage", "expired", "revoked", "unknown_user"],
)
def test_401_codes_raise_exactly_unauthorized(container, clock, token, breaking):
    event = load("rest_token_authorizer", token)
    if breaking == "missing":
        event["authorizationToken"] = ""
    elif breaking == "other_scheme":
        event["authorizationToken"] = "Basic YWxhZGRpbjpvcGVuc2VzYW1l"
    elif breaking == "garbage":
        event["authorizationToken"] = "Bearer not.a.jwt"
    elif breaking == "expired":
        clock.advance(86400 + 31)
    elif breaking == "revoked":
        container.sign_out_everywhere()("usr_ada")
    else:
        event = load(
            "rest_token_authorizer", container.token_signer().create_token("usr_nobody")
        )
    raises_unauthorized(event)


def test_a_request_authorizer_without_credentials_is_unauthorized(token):
    event = load("rest_request_authorizer", token)
    del event["headers"]["Authorization"]
    del event["multiValueHeaders"]["Authorization"]
    raises_unauthorized(event)


class BrokenStore(InMemoryUserRepository):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def get_cached(self, user_id):
        return None

    def get(self, user_id):
        raise self.error


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (StoreUnavailable("throttled"), "store_unavailable"),
        (RuntimeError("bug"), "internal_error"),
    ],
)
def test_5xx_codes_raise_an_exception_named_by_the_code(container, token, error, code):
    container.user_repository.override(providers.Object(BrokenStore(error)))
    with pytest.raises(AuthorizerFailure) as info:
        authorizer(load("rest_token_authorizer", token), None)
    assert str(info.value) == code


@pytest.mark.parametrize("name", PROXY_KINDS)
def test_a_proxy_event_sent_to_the_authorizer_is_unauthorized_with_a_hint(name, caplog):
    raises_unauthorized(load(name))
    assert "aws_lambda.handler" in caplog.text  # the operator's hint


@pytest.mark.parametrize(
    "name", ["http_v2_authorizer", "rest_token_authorizer", "rest_request_authorizer"]
)
def test_an_authorizer_event_sent_to_the_handler_is_a_400_with_a_hint(
    name, token, caplog
):
    answer = handler(load(name, token), None)
    assert (answer["statusCode"], json.loads(answer["body"])["error"]) == (
        400,
        "invalid_request",
    )
    assert "aws_lambda.authorizer" in caplog.text
    assert token not in caplog.text


def test_the_authorizer_works_with_public_keys_only(
    tmp_path, monkeypatch, private_key, container, token
):
    keys = public_keys_file(tmp_path, private_key)
    monkeypatch.setenv("WIKIBOT_AUTH_PUBLIC_KEYS_FILE", str(keys))
    monkeypatch.setenv("WIKIBOT_AUTH_USER_STORE", "memory://")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "wikibot-auth-authorizer")
    for name in ("WIKIBOT_AUTH_PRIVATE_KEY", "WIKIBOT_AUTH_PRIVATE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    repo = container.user_repository()
    aws_lambda.configure(None)
    verify_only = aws_lambda.get_authorizer_container()
    verify_only.user_repository.override(providers.Object(repo))
    verify_only.clock.override(providers.Object(container.clock()))
    assert (
        authorizer(load("rest_token_authorizer", token), None)["principalId"]
        == "usr_ada"
    )
    assert verify_only.token_signer().key_ring.signer is None


# --- handler ---------------------------------------------------------------------


class LambdaClient:
    """Sends one kind of proxy event through ``handler`` and keeps cookies."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: str | None = None,
        send_cookies: bool = True,
    ) -> dict[str, Any]:
        parts = urlsplit(url)
        query = query_of(url)
        event = copy.deepcopy(load(self.kind))
        headers = dict(headers or {})
        cookies = [f"{k}={v}" for k, v in self.cookies.items()] if send_cookies else []
        if self.kind == "rest_proxy":
            event["path"] = parts.path
            event["httpMethod"] = event["requestContext"]["httpMethod"] = method
            event["queryStringParameters"] = query or None
            event["multiValueQueryStringParameters"] = {
                k: [v] for k, v in query.items()
            } or None
            if cookies:
                headers["Cookie"] = "; ".join(cookies)
            for name, value in headers.items():
                title = "-".join(p.capitalize() for p in name.split("-"))
                event["headers"][title] = value
                event["multiValueHeaders"][title] = [value]
        else:
            event["rawPath"] = event["requestContext"]["http"]["path"] = parts.path
            event["requestContext"]["http"]["method"] = method
            event["rawQueryString"] = parts.query
            if query:
                event["queryStringParameters"] = query
            if cookies:
                event["cookies"] = cookies
            event["headers"].update({k.lower(): v for k, v in headers.items()})
        if body is not None:
            event["body"] = base64.b64encode(body.encode()).decode()
            event["isBase64Encoded"] = True
        response = handler(event, None)
        for cookie in set_cookies(self.kind, response):
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in cookie:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response


def set_cookies(kind: str, response: dict[str, Any]) -> list[str]:
    if kind == "rest_proxy":
        assert "set-cookie" not in {k.lower() for k in response.get("headers", {})}
        return response.get("multiValueHeaders", {}).get("Set-Cookie", [])
    assert "set-cookie" not in response.get("headers", {})
    return response.get("cookies", [])


def header(response: dict[str, Any], name: str) -> str:
    return {k.lower(): v for k, v in response["headers"].items()}[name]


def sign_in(
    client: LambdaClient, idp: ScriptedIdentityProvider, return_to: str = "/"
) -> str:
    """/auth/login, then the callback URL the (scripted) IdP answers with."""
    login = client.request(
        "GET", f"{API}/auth/login?{urlencode({'return_to': return_to})}"
    )
    assert login["statusCode"] == 302, login
    return scripted_callback(idp, header(login, "location"))


@pytest.mark.parametrize("kind", PROXY_KINDS)
def test_full_login_flow_through_the_handler(container, idp, kind):
    client = LambdaClient(kind)
    callback = sign_in(client, idp)
    answer = client.request("GET", callback, headers={"accept": "application/json"})
    assert answer["statusCode"] == 200, answer
    assert header(answer, "cache-control") == "no-store"
    body = json.loads(answer["body"])
    assert body["user"]["email"] == "lin@example.com"
    me = client.request(
        "GET",
        f"{API}/me",
        headers={"authorization": f"Bearer {body['token']}"},
        send_cookies=False,
    )
    assert (me["statusCode"], json.loads(me["body"])) == (200, body["user"])


@pytest.mark.parametrize("kind", PROXY_KINDS)
def test_browser_login_sets_both_cookies_the_way_the_event_kind_needs(
    container, idp, kind
):
    client = LambdaClient(kind)
    callback = sign_in(client, idp, return_to="/wiki")
    answer = client.request("GET", callback, headers={"accept": "text/html"})
    assert (answer["statusCode"], header(answer, "location")) == (303, "/wiki")
    cookies = set_cookies(kind, answer)
    assert len(cookies) == 2
    assert all("; Secure" in c and "HttpOnly" in c for c in cookies)
    assert all(c.startswith("__Host-wikibot_auth_") for c in cookies)
    assert "__Host-wikibot_auth_token" in client.cookies
    assert client.request("GET", f"{API}/me")["statusCode"] == 200
    refused = client.request("POST", f"{API}/auth/logout")
    assert json.loads(refused["body"])["error"] == "csrf_rejected"
    out = client.request("POST", f"{API}/auth/logout", headers={"origin": API})
    assert out["statusCode"] == 204
    assert "__Host-wikibot_auth_token" not in client.cookies


def error_of(response: dict[str, Any]) -> tuple[int, str]:
    return response["statusCode"], json.loads(response["body"])["error"]


@pytest.mark.parametrize("kind", PROXY_KINDS)
def test_token_error_rows_through_the_handler(container, clock, token, kind):
    client = LambdaClient(kind)

    def me(authorization: str | None = f"Bearer {token}") -> dict[str, Any]:
        headers = {} if authorization is None else {"authorization": authorization}
        return client.request("GET", f"{API}/me", headers=headers)

    missing = me(None)
    assert error_of(missing) == (401, "missing_token")
    assert header(missing, "www-authenticate") == 'Bearer realm="wikibot.io"'
    assert error_of(me("Bearer a,b")) == (400, "invalid_request")
    invalid = me("Bearer not.a.jwt")
    assert error_of(invalid) == (401, "invalid_token")
    assert 'error="invalid_token"' in header(invalid, "www-authenticate")
    assert error_of(me(f"Bearer {container.token_signer().create_token('usr_x')}")) == (
        401,
        "unknown_user",
    )
    clock.advance(86400 + 31)
    assert error_of(me()) == (401, "token_expired")
    clock.advance(-(86400 + 31))
    container.set_user_disabled()("usr_ada", True)
    assert error_of(me()) == (403, "user_disabled")
    container.set_user_disabled()("usr_ada", False)
    assert error_of(me()) == (401, "token_revoked")  # disabling signed out everywhere
    # the app binds its use cases when built: rebuild it after an override
    container.user_repository.override(
        providers.Object(BrokenStore(StoreUnavailable("down")))
    )
    aws_lambda.configure(container)
    down = me()
    assert error_of(down) == (503, "store_unavailable")
    assert header(down, "retry-after") == "1"
    container.user_repository.override(
        providers.Object(BrokenStore(RuntimeError("bug")))
    )
    aws_lambda.configure(container)
    assert error_of(me()) == (500, "internal_error")


def test_login_error_rows_through_the_handler(container, idp):
    client = LambdaClient("http_v2_proxy")
    callback = sign_in(client, idp)
    assert error_of(client.request("GET", callback, send_cookies=False)) == (
        400,
        "invalid_callback",
    )
    assert error_of(
        client.request("GET", f"{API}/auth/callback?error=access_denied")
    ) == (
        400,
        "login_failed",
    )
    csrf_client = LambdaClient("http_v2_proxy")
    csrf_client.cookies["__Host-wikibot_auth_token"] = (
        container.token_signer().create_token("u")
    )
    assert error_of(csrf_client.request("POST", f"{API}/auth/logout")) == (
        403,
        "csrf_rejected",
    )
    for error, expected in [
        (LoginStepRequired(step="email_verification"), (403, "login_step_required")),
        (IdPError("bad body"), (502, "idp_error")),
        (IdPUnavailable("timeout", retry_after=7), (503, "idp_unavailable")),
    ]:
        login = client.request("GET", f"{API}/auth/login")
        query = query_of(header(login, "location"))
        idp.script("the-code", error, code_challenge=query["code_challenge"])
        answer = client.request(
            "GET", f"{API}/auth/callback?code=the-code&state={query['state']}"
        )
        assert error_of(answer) == expected
        if expected[0] == 503:
            assert header(answer, "retry-after") == "7"
    container.identity_provider.override(providers.Object(None))
    aws_lambda.configure(container)
    assert error_of(client.request("GET", f"{API}/auth/login")) == (
        500,
        "not_configured",
    )


AUTHORIZER_PROBE = """
import json, sys
sys.modules["fastapi"] = None  # the Lambda package ships without FastAPI
from wikibot_auth.entrypoints import aws_lambda
from wikibot_auth.adapters.dynamodb import user_key
event, item = json.loads(sys.argv[1]), json.loads(sys.argv[2])
client = aws_lambda.get_authorizer_container().dynamodb_client()
from boto3.dynamodb.types import TypeSerializer
from botocore.stub import Stubber
serialize = TypeSerializer().serialize
stub = Stubber(client)
stub.add_response(
    "get_item",
    {"Item": {k: serialize(v) for k, v in item.items()}},
    {"TableName": "users", "Key": {"pk": {"S": user_key(item["user_id"])}},
     "ConsistentRead": True},
)
stub.activate()
answer = aws_lambda.authorizer(event, None)
stub.assert_no_pending_responses()
print(json.dumps({"answer": answer, "modules": sorted(sys.modules)}))
"""


def test_the_authorizer_path_imports_no_server_or_route_code(
    tmp_path, private_key, user
):
    """A valid token against a DynamoDB store (botocore's Stubber answers the
    one GetItem) in a fresh process, configured like the template's authorizer.
    dependency-injector imports ``starlette.requests`` whenever Starlette is
    installed (about 7 ms of a 175 ms cold import); no Starlette app or routing."""
    import os
    import subprocess
    import sys

    keys = public_keys_file(tmp_path, private_key)
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WIKIBOT_AUTH_", "WORKOS_", "AWS_"))
    }
    environ.update(
        WIKIBOT_AUTH_ENV="production",
        WIKIBOT_AUTH_PUBLIC_KEYS_FILE=str(keys),
        WIKIBOT_AUTH_USER_STORE="dynamodb://users",
        AWS_LAMBDA_FUNCTION_NAME="wikibot-auth-authorizer",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing-secret",
    )
    signer = create_container(web_env(tmp_path, private_key)).token_signer()
    token = signer.create_token(user.user_id)  # on the real clock, as the probe
    event = json.dumps(load("rest_token_authorizer", token))
    result = subprocess.run(
        [sys.executable, "-c", AUTHORIZER_PROBE, event, json.dumps(user.to_item())],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    probe = json.loads(result.stdout)
    assert probe["answer"]["principalId"] == "usr_ada"
    assert probe["answer"]["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    loaded = set(probe["modules"])
    assert "wikibot_auth.adapters.dynamodb" in loaded
    assert "boto3" in loaded
    for module in (
        "httpx",
        "uvicorn",
        "sqlite3",
        "mangum",
        "wikibot_auth.adapters.sqlite",
        "wikibot_auth.adapters.workos",
        "wikibot_auth.entrypoints.routes",
        "wikibot_auth.entrypoints.asgi",
        "starlette.applications",
        "starlette.routing",
        "starlette.responses",
    ):
        assert module not in loaded, module


def test_the_authorizer_ignores_the_token_cookie_by_default(token):
    """Its cached answer is keyed on the Authorization header only (the
    template's identity source): a cookie's Origin check could not survive it."""
    event = load("http_v2_authorizer", token)
    del event["headers"]["authorization"]
    event["cookies"].append(f"__Host-wikibot_auth_token={token}")
    event["headers"]["origin"] = API
    raises_unauthorized(event)
    rest = load("rest_request_authorizer", token)
    for headers in (rest["headers"], rest["multiValueHeaders"]):
        for name in [n for n in headers if n.lower() == "authorization"]:
            del headers[name]
    rest["headers"]["Cookie"] = f"__Host-wikibot_auth_token={token}"
    raises_unauthorized(rest)


def test_http_api_authorizer_accepts_the_token_cookie_with_csrf_rules(container, token):
    container.config.authorizer_cookie_auth.override(True)
    event = load("http_v2_authorizer", token)
    del event["headers"]["authorization"]
    event["cookies"].append(f"__Host-wikibot_auth_token={token}")
    assert authorizer(event, None)["isAuthorized"] is True
    event["requestContext"]["http"]["method"] = "POST"
    assert authorizer(event, None) == {"isAuthorized": False}
    event["headers"]["origin"] = API
    assert authorizer(event, None)["isAuthorized"] is True


def test_the_authorizer_reads_only_the_host_prefixed_cookie_once(container, token):
    container.config.authorizer_cookie_auth.override(True)
    event = load("http_v2_authorizer", token)
    del event["headers"]["authorization"]
    event["cookies"].append(f"wikibot_auth_token={token}")  # plantable by a sibling
    raises_unauthorized(event)
    event["cookies"][-1] = f"__Host-wikibot_auth_token={token}"
    assert authorizer(event, None)["isAuthorized"] is True
    event["cookies"].append("__Host-wikibot_auth_token=planted")
    raises_unauthorized(event)
