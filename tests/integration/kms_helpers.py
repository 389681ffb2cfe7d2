"""KMS for the tests: keys on moto (in-process, or its standalone server over
HTTP), and botocore event handlers that count the operations a client sends
and inject the faults moto never makes (throttling, disabled or denied keys)."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import attrs
import boto3
import pytest
from botocore.awsrequest import AWSResponse
from cryptography.hazmat.primitives.asymmetric import rsa
from moto import mock_aws

from tests.integration.moto_server import reset
from tests.integration.store_helpers import AWS_TEST_ENV

MOTO_ACCOUNT = "123456789012"
REGION = AWS_TEST_ENV["AWS_DEFAULT_REGION"]
ALIAS = "alias/wikibot-auth-signing"


@attrs.define
class KMS:
    """Where the tests' KMS lives: ``kind`` is ``moto`` (in-process) or
    ``moto_server`` (a separate process, reached over HTTP)."""

    kind: str
    client: Any  # a boto3 KMS client of its own, for setting up keys

    def create_key(self, spec: str = "RSA_2048", usage: str = "SIGN_VERIFY") -> str:
        """A new key; returns its ARN."""
        metadata = self.client.create_key(KeySpec=spec, KeyUsage=usage)
        return str(metadata["KeyMetadata"]["Arn"])

    def point_alias(self, alias: str, key_arn: str) -> None:
        try:
            self.client.update_alias(AliasName=alias, TargetKeyId=key_arn)
        except self.client.exceptions.NotFoundException:
            self.client.create_alias(AliasName=alias, TargetKeyId=key_arn)

    def public_key(self, key_id: str) -> rsa.RSAPublicKey:
        from cryptography.hazmat.primitives import serialization

        der = self.client.get_public_key(KeyId=key_id)["PublicKey"]
        public = serialization.load_der_public_key(der)
        assert isinstance(public, rsa.RSAPublicKey)
        return public


def aws_environment(monkeypatch: pytest.MonkeyPatch, endpoint: str | None) -> None:
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    if endpoint is None:
        monkeypatch.delenv("AWS_ENDPOINT_URL_KMS", raising=False)
    else:
        monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", endpoint)


@contextlib.contextmanager
def kms_of_kind(
    kind: str, monkeypatch: pytest.MonkeyPatch, server: str | None
) -> Iterator[KMS]:
    """moto's KMS in this process, or the standalone server at ``server``
    (reset afterwards); boto3 reaches either through the environment."""
    aws_environment(monkeypatch, server if kind == "moto_server" else None)
    if kind == "moto_server":
        assert server is not None
        try:
            yield KMS(kind, boto3.client("kms"))
        finally:
            reset(server)
    else:
        with mock_aws():
            yield KMS(kind, boto3.client("kms"))


def moto_private_key(key_arn: str) -> rsa.RSAPrivateKey:
    """The private key moto holds for ``key_arn`` (in-process moto only): what
    a file signer needs to sign under the same kid as the KMS key."""
    from moto.kms.models import kms_backends

    key = kms_backends[MOTO_ACCOUNT][REGION].keys[key_arn.rsplit("/", 1)[1]]
    private = key.private_key.private_key
    assert isinstance(private, rsa.RSAPrivateKey)
    return private


class Operations:
    """What a KMS client sent: every attempt by operation (``attempts``) and
    every call with its parameters (``calls``, before retries). Build it
    before injecting faults: it counts the attempts a fault answers too."""

    def __init__(self, client: Any) -> None:
        self.attempts: Counter[str] = Counter()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register_first("before-send.kms", self._sent)
        client.meta.events.register("provide-client-params.kms", self._called)

    def _sent(self, event_name: str, **_: Any) -> None:
        self.attempts[event_name.rsplit(".", 1)[1]] += 1

    def _called(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((event_name.rsplit(".", 1)[1], dict(params)))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def answer_error(client: Any, operation: str, code: str, status: int) -> None:
    """Every ``operation`` attempt of ``client`` is answered with KMS error
    ``code`` (the handler runs before moto's, in-process or over HTTP)."""

    def answer(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        if not event_name.endswith(f".{operation}"):
            return None
        body = json.dumps({"__type": code, "message": "injected fault"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        return AWSResponse(request.url, status, headers, _Raw(body))

    # On the service's event (not the operation's, whose handlers would run
    # before the service's): after an ``Operations`` counter built earlier.
    client.meta.events.register_first("before-send.kms", answer)


def fail_to_connect(client: Any, operation: str) -> None:
    """Every ``operation`` attempt of ``client`` fails as an unreachable
    endpoint does."""
    from botocore.exceptions import EndpointConnectionError

    def fail(request: Any, event_name: str, **_: Any) -> None:
        if event_name.endswith(f".{operation}"):
            raise EndpointConnectionError(endpoint_url=request.url)

    client.meta.events.register_first("before-send.kms", fail)
