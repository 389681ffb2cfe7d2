"""Fixtures shared by the integration tests: the WorkOS stand-in server for the
session (reset before each test) and MockTransport providers whose clients are
closed; moto's KMS, in-process and as its standalone server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.integration.kms_helpers import KMS, kms_of_kind
from tests.integration.workos_standin import API_KEY, CLIENT_ID, WorkOSStandIn
from wikibot_auth.adapters.bounded_http import BoundedHttpClient
from wikibot_auth.adapters.workos import WorkOSIdentityProvider

MockProvider = Callable[..., WorkOSIdentityProvider]


@pytest.fixture(scope="session")
def standin_server() -> Iterator[WorkOSStandIn]:
    with WorkOSStandIn.running() as server:
        yield server


@pytest.fixture
def standin(standin_server: WorkOSStandIn) -> WorkOSStandIn:
    standin_server.reset()
    return standin_server


@pytest.fixture
def mock_provider() -> Iterator[MockProvider]:
    """``mock_provider(answer, budget=None, **client_options)``: the adapter on
    a ``BoundedHttpClient`` over an ``httpx.MockTransport`` calling ``answer``;
    no sleeping between retries unless ``sleep`` says otherwise."""
    clients: list[BoundedHttpClient] = []

    def make(
        answer: Callable[[httpx.Request], httpx.Response],
        budget: float | None = None,
        **options: object,
    ) -> WorkOSIdentityProvider:
        options.setdefault("sleep", lambda seconds: None)
        client = BoundedHttpClient(
            transport=httpx.MockTransport(answer),
            **options,  # type: ignore[arg-type]
        )
        clients.append(client)
        return WorkOSIdentityProvider(
            client,
            api_key=API_KEY,
            client_id=CLIENT_ID,
            base_url="https://workos.invalid",
            budget=budget,
        )

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's standalone server for the session (``.moto-venv``): its endpoint."""
    from tests.integration.moto_server import moto_server_or_skip

    with moto_server_or_skip() as endpoint:
        yield endpoint


@pytest.fixture(params=["moto", "moto_server"])
def kms(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[KMS]:
    """KMS on moto in this process, then on moto's server over HTTP
    (``AWS_ENDPOINT_URL_KMS``): the same test on both."""
    server = (
        request.getfixturevalue("moto_server")
        if request.param == "moto_server"
        else None
    )
    with kms_of_kind(request.param, monkeypatch, server) as where:
        yield where


@pytest.fixture
def kms_in_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[KMS]:
    """KMS on moto in this process only (its private keys are reachable)."""
    with kms_of_kind("moto", monkeypatch, None) as where:
        yield where
