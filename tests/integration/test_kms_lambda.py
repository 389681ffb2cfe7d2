"""KMS in the deployed shape, on moto in-process and on moto's server over
HTTP: a login through the Lambda handler gets a token signed by KMS, which a
file-only verifier and the Lambda authorizer accept. The authorizer asks KMS
for the public key once per cold start, or never when it has a public keys
file, and never to sign (counted by a botocore event handler)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from tests.integration.kms_helpers import ALIAS, KMS, Operations
from tests.integration.test_lambda import API, LambdaClient, load, sign_in
from wikibot_auth.adapters.key_files import thumbprint
from wikibot_auth.adapters.memory import ScriptedIdentityProvider
from wikibot_auth.domain.errors import NotConfigured
from wikibot_auth.entrypoints import aws_lambda, cli
from wikibot_auth.entrypoints.containers import create_container
from wikibot_auth.entrypoints.settings import Settings


@pytest.fixture
def deployed(
    kms: KMS, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[KMS, ScriptedIdentityProvider]]:
    """The template's Lambda environment on ``kms``: production, the signing
    key behind an alias, no key anywhere else."""
    kms.point_alias(ALIAS, kms.create_key())
    for name in [n for n in os.environ if n.startswith("WIKIBOT_")]:
        monkeypatch.delenv(name)
    for name, value in {
        "WIKIBOT_AUTH_ENV": "production",
        "WIKIBOT_AUTH_KMS_KEY_ID": ALIAS,
        "WIKIBOT_AUTH_USER_STORE": "memory://",
        "WIKIBOT_AUTH_IDP": "none",
        "WIKIBOT_AUTH_REDIRECT_URI": f"{API}/auth/callback",
        "AWS_LAMBDA_FUNCTION_NAME": "wikibot-auth",
    }.items():
        monkeypatch.setenv(name, value)
    idp = ScriptedIdentityProvider()
    aws_lambda.configure(None)
    aws_lambda.get_container().identity_provider.override(providers.Object(idp))
    yield kms, idp
    aws_lambda.configure(None)


def log_in(idp: ScriptedIdentityProvider) -> dict[str, Any]:
    client = LambdaClient("http_v2_proxy")
    callback = sign_in(client, idp)
    answer = client.request("GET", callback, headers={"accept": "application/json"})
    assert answer["statusCode"] == 200, answer
    body: dict[str, Any] = json.loads(answer["body"])
    return body


def authorize(token: str) -> dict[str, Any]:
    answer: dict[str, Any] = aws_lambda.authorizer(
        load("http_v2_authorizer", token), None
    )
    return answer


def share_the_users() -> None:
    store = aws_lambda.get_container().user_repository()
    aws_lambda.get_authorizer_container().user_repository.override(
        providers.Object(store)
    )


def publish(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    capsys.readouterr()
    assert cli.main(["keys", "publish", "--kms-key-id", ALIAS]) == 0
    path = tmp_path / "public-keys.json"
    path.write_text(capsys.readouterr().out)
    return path


def test_a_kms_signed_login_passes_a_file_verifier_and_the_authorizer(
    deployed, tmp_path, capsys
):
    kms, idp = deployed
    signing = Operations(aws_lambda.get_container().kms_client())
    body = log_in(idp)
    assert signing.attempts == {"GetPublicKey": 1, "Sign": 2}  # cookie key, token
    share_the_users()
    authorizing = Operations(aws_lambda.get_authorizer_container().kms_client())
    for _ in range(3):
        assert authorize(body["token"])["context"]["user_id"] == body["user"]["user_id"]
    assert authorizing.attempts == {"GetPublicKey": 1}  # once per cold start
    assert aws_lambda.get_authorizer_container().key_ring().signer is None

    verifier = create_container(
        {
            "WIKIBOT_AUTH_ENV": "production",
            "WIKIBOT_AUTH_PUBLIC_KEYS_FILE": str(publish(tmp_path, capsys)),
            "WIKIBOT_AUTH_USER_STORE": "memory://",
        },
        runtime="lambda",
    )
    claims = verifier.token_signer().validate_token(body["token"])
    assert claims.kid == thumbprint(kms.public_key(ALIAS))
    assert verifier.key_ring().signer is None


def test_the_authorizer_with_a_public_keys_file_never_calls_kms(
    deployed, tmp_path, capsys, monkeypatch
):
    _, idp = deployed
    # Read by the authorizer's cold start, on its first event below.
    monkeypatch.setenv("WIKIBOT_AUTH_PUBLIC_KEYS_FILE", str(publish(tmp_path, capsys)))
    token = log_in(idp)["token"]
    share_the_users()
    authorizing = Operations(aws_lambda.get_authorizer_container().kms_client())
    assert authorize(token)["isAuthorized"] is True
    assert authorizing.attempts == {}


def test_both_lambda_functions_give_kms_the_budget_dynamodb_has(deployed):
    for container in (
        aws_lambda.get_container(),
        aws_lambda.get_authorizer_container(),
    ):
        kms, dynamodb = (
            container.kms_client().meta.config,
            container.dynamodb_client().meta.config,
        )
        assert (kms.connect_timeout, kms.read_timeout, kms.retries) == (
            dynamodb.connect_timeout,
            dynamodb.read_timeout,
            dynamodb.retries,
        )
        assert (kms.connect_timeout, kms.read_timeout, kms.retries) == (
            1,
            1,
            {"mode": "standard", "total_max_attempts": 2},
        )


def test_a_server_gives_kms_the_default_budget(kms_in_process):
    config = (
        create_container({"WIKIBOT_AUTH_KMS_KEY_ID": ALIAS}, runtime="server")
        .kms_client()
        .meta.config
    )
    assert (config.connect_timeout, config.read_timeout, config.retries) == (
        2,
        3,
        {"mode": "standard", "total_max_attempts": 3},
    )


@pytest.mark.parametrize(
    "other", ["WIKIBOT_AUTH_PRIVATE_KEY", "WIKIBOT_AUTH_PRIVATE_KEY_FILE"]
)
def test_a_kms_key_and_a_private_key_are_exclusive(other):
    with pytest.raises(NotConfigured, match="KMS_KEY_ID") as info:
        Settings.from_env({"WIKIBOT_AUTH_KMS_KEY_ID": ALIAS, other: "secret-pem"})
    assert "secret-pem" not in info.value.message


def test_production_accepts_a_kms_key_alone_and_generates_no_key(tmp_path):
    settings = Settings.from_env(
        {
            "WIKIBOT_AUTH_ENV": "production",
            "WIKIBOT_AUTH_KMS_KEY_ID": f" {ALIAS} ",
            "WIKIBOT_AUTH_DATA_DIR": str(tmp_path),
        }
    )
    assert (settings.kms_key_id, settings.may_generate_key) == (ALIAS, False)
    development = Settings.from_env({"WIKIBOT_AUTH_KMS_KEY_ID": ALIAS})
    assert development.may_generate_key is False
