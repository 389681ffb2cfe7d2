"""KMS faults moto never makes, injected with botocore ``before-send`` handlers:
throttling and outages are ``signer_unavailable`` after exactly the configured
attempts; a disabled, denied, missing or misused key is ``not_configured``,
logged at ERROR. Nothing secret reaches an error or a log."""

from __future__ import annotations

import logging

import pytest

from tests.integration.kms_helpers import (
    KMS,
    Operations,
    answer_error,
    fail_to_connect,
)
from wikibot_auth.domain.errors import NotConfigured, SignerUnavailable
from wikibot_auth.entrypoints.containers import Container, create_container
from wikibot_auth.entrypoints.wire import error_answer

UNAVAILABLE = [
    ("KeyUnavailableException", 500),
    ("DependencyTimeoutException", 503),
    ("KMSInternalException", 500),
]
MISCONFIGURED = [
    ("AccessDeniedException", 400),
    ("DisabledException", 400),
    ("KMSInvalidStateException", 400),
    ("NotFoundException", 400),
    ("InvalidKeyUsageException", 400),
]


def container(key_id: str, runtime: str = "server") -> Container:
    return create_container(
        {"WIKIBOT_AUTH_KMS_KEY_ID": key_id, "WIKIBOT_AUTH_USER_STORE": "memory://"},
        runtime=runtime,
    )


@pytest.mark.parametrize(("runtime", "attempts"), [("server", 3), ("lambda", 2)])
def test_throttling_is_retried_exactly_the_configured_attempts(
    kms_in_process: KMS, runtime: str, attempts: int
):
    built = container(kms_in_process.create_key(), runtime)
    signer = built.token_signer()
    sent = Operations(built.kms_client())
    answer_error(built.kms_client(), "Sign", "ThrottlingException", 400)
    with pytest.raises(SignerUnavailable) as info:
        signer.create_token("usr_ada")
    assert sent.attempts["Sign"] == attempts
    assert info.value.retry_after == 1
    answer = error_answer(info.value)
    assert (answer.status, answer.headers["retry-after"]) == (503, "1")


@pytest.mark.parametrize(("code", "status"), UNAVAILABLE)
def test_an_outage_of_kms_is_signer_unavailable(
    kms_in_process: KMS, code: str, status: int
):
    built = container(kms_in_process.create_key(), "lambda")
    signer = built.token_signer()
    sent = Operations(built.kms_client())
    answer_error(built.kms_client(), "Sign", code, status)
    with pytest.raises(SignerUnavailable, match=code):
        signer.create_token("usr_ada")
    assert sent.attempts["Sign"] == 2  # retried: a 5xx is transient


def test_an_unreachable_kms_is_signer_unavailable(kms_in_process: KMS):
    built = container(kms_in_process.create_key(), "lambda")
    signer = built.token_signer()
    sent = Operations(built.kms_client())
    fail_to_connect(built.kms_client(), "Sign")
    with pytest.raises(SignerUnavailable, match="EndpointConnectionError"):
        signer.create_token("usr_ada")
    assert sent.attempts["Sign"] == 2


def test_a_kms_outage_at_startup_is_signer_unavailable_and_asked_again_later(
    kms_in_process: KMS,
):
    built = container(kms_in_process.create_key(), "lambda")
    client = built.kms_client()
    sent = Operations(client)
    answer_error(client, "GetPublicKey", "ThrottlingException", 400)
    for _ in range(2):
        with pytest.raises(SignerUnavailable):
            built.token_signer()
    assert sent.attempts["GetPublicKey"] == 4  # no failure cached: asked again


@pytest.mark.parametrize("operation", ["GetPublicKey", "Sign"])
@pytest.mark.parametrize(("code", "status"), MISCONFIGURED)
def test_a_key_that_cannot_be_used_is_not_configured_and_logged_at_error(
    kms_in_process: KMS,
    caplog: pytest.LogCaptureFixture,
    operation: str,
    code: str,
    status: int,
):
    arn = kms_in_process.create_key()
    built = container(arn)
    sent = Operations(built.kms_client())
    answer_error(built.kms_client(), operation, code, status)
    with pytest.raises(NotConfigured, match=code) as info:
        built.token_signer().create_token("usr_ada")
    assert sent.attempts[operation] == 1  # never retried
    assert arn.rsplit("/", 1)[1] in info.value.message  # the key, by id or ARN
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any(code in r.getMessage() for r in errors)
    assert error_answer(info.value).status == 500


def test_no_credentials_is_not_configured(
    kms_in_process: KMS, monkeypatch: pytest.MonkeyPatch
):
    arn = kms_in_process.create_key()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(NotConfigured, match="NoCredentialsError"):
        container(arn).token_signer()


def test_no_region_is_not_configured_naming_the_setting(
    kms_in_process: KMS, monkeypatch: pytest.MonkeyPatch
):
    arn = kms_in_process.create_key()
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(NotConfigured, match="AWS_DEFAULT_REGION"):
        container(arn).token_signer()
