"""The Lambda entrypoints after review: every authorizer failure is exactly
``Exception("Unauthorized")`` or a named ``AuthorizerFailure``, and the handler
answers a bad base64 body with JSON."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import pytest
from dependency_injector import providers

from tests.integration.test_lambda import (  # fixtures and helpers
    API,
    PROXY_KINDS,
    LambdaClient,
    container,
    load,
    public_keys_file,
    raises_unauthorized,
    token,
    user,
)
from wikibot_auth.entrypoints import aws_lambda
from wikibot_auth.entrypoints.aws_lambda import AuthorizerFailure, authorizer, handler

__all__ = ["container", "token", "user"]  # pytest fixtures, re-used


@pytest.mark.parametrize("arn", ["garbage", "arn:aws:execute-api:us-east-1:1:abc", ""])
@pytest.mark.parametrize("kind", ["rest_token_authorizer", "rest_request_authorizer"])
def test_a_valid_token_with_a_malformed_method_arn_is_unauthorized(token, kind, arn):
    event = load(kind, token)
    event["methodArn"] = arn
    raises_unauthorized(event)


def test_a_missing_method_arn_is_unauthorized(token):
    event = load("rest_token_authorizer", token)
    del event["methodArn"]
    raises_unauthorized(event)


def test_a_malformed_route_arn_is_unauthorized_with_iam_answers(container, token):
    container.config.authorizer_response.override("iam")
    event = load("http_v2_authorizer", token)
    event["routeArn"] = "arn:aws:execute-api:us-east-1:1:abc"
    raises_unauthorized(event)


@pytest.mark.parametrize("value", [None, 123, ""])
def test_a_token_event_without_a_string_token_is_unauthorized(token, value):
    event = load("rest_token_authorizer", token)
    event["authorizationToken"] = value
    raises_unauthorized(event)


@pytest.mark.parametrize(
    "kind", ["http_v2_authorizer", "rest_token_authorizer", "rest_request_authorizer"]
)
def test_a_configuration_error_is_a_named_failure(monkeypatch, tmp_path, kind):
    for name in ("WIKIBOT_AUTH_PRIVATE_KEY", "WIKIBOT_AUTH_PRIVATE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("WIKIBOT_AUTH_PUBLIC_KEYS_FILE", raising=False)
    monkeypatch.setenv("WIKIBOT_AUTH_ENV", "production")
    monkeypatch.setenv("WIKIBOT_AUTH_USER_STORE", "memory://")
    aws_lambda.configure(None)
    try:
        with pytest.raises(AuthorizerFailure) as info:
            authorizer(load(kind, "t.t.t"), None)
    finally:
        aws_lambda.configure(None)
    assert str(info.value) == "not_configured"


class Broken:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("a bug")


@pytest.mark.parametrize("kind", ["http_v2_authorizer", "rest_token_authorizer"])
def test_an_unexpected_error_is_internal_error(container, token, kind, caplog):
    container.authenticate.override(providers.Object(Broken()))
    with pytest.raises(AuthorizerFailure) as info:
        authorizer(load(kind, token), None)
    assert str(info.value) == "internal_error"
    assert any(r.exc_info for r in caplog.records)
    assert token not in caplog.text


@pytest.mark.parametrize("kind", PROXY_KINDS)
@pytest.mark.parametrize("body", ["%%%not base64%%%", "YWJ", "abc"])
def test_an_invalid_base64_body_is_a_json_400(container, kind, body):
    event = load(kind)
    event["body"] = body
    event["isBase64Encoded"] = True
    response = handler(event, None)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"] == "invalid_request"
    assert response["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize("kind", PROXY_KINDS)
def test_a_valid_base64_body_still_reaches_the_routes(container, token, kind):
    client = LambdaClient(kind)
    response = client.request(
        "POST",
        f"{API}/auth/logout",
        headers={"authorization": f"Bearer {token}"},
        body="everything=fine",  # sent base64-encoded, as API Gateway does
    )
    assert response["statusCode"] == 204, response["body"]


def _no_kms_client() -> None:
    raise AssertionError("the authorizer built a KMS client")


def test_the_templates_authorizer_environment_builds_and_authenticates(
    tmp_path, monkeypatch, private_key, container, token
):
    """Globals + AuthorizerFunction variables of deploy/template.yaml (production,
    the KMS alias and a public keys file): it verifies with the file and never
    builds a KMS client. main once refused this configuration at settings time."""
    from tests.integration.test_deploy import TEMPLATE, cfn_yaml

    template = cfn_yaml.load(str(TEMPLATE))
    variables = {
        **template["Globals"]["Function"]["Environment"]["Variables"],
        **template["Resources"]["AuthorizerFunction"]["Properties"]["Environment"][
            "Variables"
        ],
    }
    keys = public_keys_file(tmp_path, private_key)
    plain = {
        "WIKIBOT_AUTH_USER_STORE": "memory://",  # !Sub of the table
        "WIKIBOT_AUTH_PUBLIC_KEYS_FILE": str(keys),  # !If on a parameter
        "WIKIBOT_AUTH_KMS_KEY_ID": "arn:aws:kms:us-east-1:1:key/never-called",  # !If
        "WIKIBOT_AUTH_ISSUER": "wikibot.io",
        "WIKIBOT_AUTH_AUDIENCE": "wikibot.io",
    }
    assert set(plain) <= set(variables)
    for name in [n for n in os.environ if n.startswith("WIKIBOT_")]:
        monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, plain.get(name, value))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "wikibot-auth-authorizer")
    assert variables["WIKIBOT_AUTH_ENV"] == "production"
    repo = container.user_repository()
    aws_lambda.configure(None)
    try:
        built = aws_lambda.get_authorizer_container()
        built.kms_client.override(providers.Callable(_no_kms_client))
        built.user_repository.override(providers.Object(repo))
        built.clock.override(providers.Object(container.clock()))
        answer = authorizer(load("http_v2_authorizer", token), None)
    finally:
        aws_lambda.configure(None)
    assert answer["isAuthorized"] is True
    assert answer["context"]["user_id"] == "usr_ada"


@pytest.mark.parametrize("kind", PROXY_KINDS)
def test_the_handler_without_a_redirect_uri_in_production_answers_not_configured(
    tmp_path, private_key, kind
):
    from tests.integration.web import web_env
    from wikibot_auth.entrypoints.containers import create_container

    env = web_env(tmp_path, private_key, WIKIBOT_AUTH_ENV="production")
    del env["WIKIBOT_AUTH_REDIRECT_URI"]
    env["WIKIBOT_AUTH_IDP"] = "workos"
    env.update(WORKOS_API_KEY="sk_test_not_real", WORKOS_CLIENT_ID="client_x")
    aws_lambda.configure(create_container(env))
    try:
        response = LambdaClient(kind).request("GET", f"{API}/auth/login")
    finally:
        aws_lambda.configure(None)
    assert response["statusCode"] == 500
    assert json.loads(response["body"])["error"] == "not_configured"
    assert "sk_test_not_real" not in response["body"]


def test_the_authorizer_logs_a_refused_users_token_at_debug(container, token, caplog):
    container.user_repository().set_disabled("usr_ada", True)
    with caplog.at_level(logging.DEBUG, logger="wikibot_auth"):
        answer = authorizer(load("rest_token_authorizer", token), None)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert answer["principalId"] == "usr_ada"
    (rejected,) = [r for r in caplog.records if r.getMessage() == "token.rejected"]
    assert rejected.code == "user_disabled"
    assert token not in caplog.text
