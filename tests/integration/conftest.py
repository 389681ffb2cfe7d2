"""Fixtures shared by the integration tests: the anyio backend of the ASGI
tests; for the IdP tests the WorkOS, OpenID and GitHub stand-in servers (one
each for the session, reset before each test), oidc-provider as the real
OpenID peer, and MockTransport providers whose clients are closed; moto's KMS,
in-process and as its standalone server."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from tests.integration.github_standin import GitHubStandIn
from tests.integration.kms_helpers import KMS, kms_of_kind
from tests.integration.oidc_peer import OIDCPeer, oidc_provider_or_skip
from tests.integration.oidc_standin import OIDCStandIn
from tests.integration.standin_http import StandIn
from tests.integration.web import SERVER_KINDS, base_for
from tests.integration.workos_standin import API_KEY, CLIENT_ID, WorkOSStandIn
from wikibot_auth.adapters.bounded_http import BoundedHttpClient
from wikibot_auth.adapters.workos import WorkOSIdentityProvider

MockProvider = Callable[..., WorkOSIdentityProvider]
S = TypeVar("S", bound=StandIn)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clean_cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    """No WIKIBOT_AUTH_* or WORKOS_* setting from outside; the data dir in tmp."""
    for name in list(os.environ):
        if name.startswith("WIKIBOT_AUTH_") or name.startswith("WORKOS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("WIKIBOT_AUTH_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(params=SERVER_KINDS)
def server_kind(request: pytest.FixtureRequest) -> str:
    """The ASGI tests run in-process and over a real uvicorn socket."""
    return str(request.param)


@pytest.fixture
def base(server_kind: str) -> str:
    return base_for(server_kind)


def standin_fixtures(cls: type[S], name: str) -> tuple[Any, Any]:
    """``<name>_server``, the stand-in ``cls`` for the session, and ``<name>``,
    the same server reset before each test."""

    @pytest.fixture(scope="session", name=f"{name}_server")
    def server() -> Iterator[S]:
        with cls.running() as running:
            yield running

    @pytest.fixture(name=name)
    def fresh(request: pytest.FixtureRequest) -> S:
        standin: S = request.getfixturevalue(f"{name}_server")
        standin.reset()
        return standin

    return server, fresh


standin_server, standin = standin_fixtures(WorkOSStandIn, "standin")
github_standin_server, github_standin = standin_fixtures(
    GitHubStandIn, "github_standin"
)
oidc_standin_server, oidc_standin = standin_fixtures(OIDCStandIn, "oidc_standin")


@pytest.fixture(scope="session")
def oidc_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OIDCPeer]:
    """panva's oidc-provider for the session (see ``oidc_peer.py``)."""
    with oidc_provider_or_skip(tmp_path_factory.mktemp("oidc-provider")) as peer:
        yield peer


@pytest.fixture(scope="session")
def oidc_peer_without_claims_parameter(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OIDCPeer]:
    """oidc-provider as it comes: the profile only from UserInfo."""
    tmp = tmp_path_factory.mktemp("oidc-provider-plain")
    with oidc_provider_or_skip(tmp, claims_parameter=False) as peer:
        yield peer


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
