"""Fixtures shared by the integration tests: the anyio backend of the ASGI
tests, and for the WorkOS tests one stand-in server for the session, reset
before each test, and MockTransport providers whose clients are closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.integration.workos_standin import API_KEY, CLIENT_ID, WorkOSStandIn
from wikibot_auth.adapters.bounded_http import BoundedHttpClient
from wikibot_auth.adapters.workos import WorkOSIdentityProvider

MockProvider = Callable[..., WorkOSIdentityProvider]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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
