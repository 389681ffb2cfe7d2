"""Fixtures shared by the integration tests: the anyio backend of the ASGI
tests; for the IdP tests the WorkOS, OpenID and GitHub stand-in servers (one
each for the session, reset before each test), oidc-provider as the real
OpenID peer, the IdP adapters' bounded HTTP client, and clients over
MockTransport (the WorkOS adapters on them) that are closed after the test;
moto's KMS, in-process and as its standalone server."""

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
from wikibot_auth.adapters.workos_api import WorkOSApi
from wikibot_auth.adapters.workos_directory import WorkOSIdentityDirectory

MockHttp = Callable[..., BoundedHttpClient]
MockProvider = Callable[..., WorkOSIdentityProvider]
MockDirectory = Callable[..., WorkOSIdentityDirectory]
MOCK_WORKOS_URL = "https://workos.invalid"
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
def http(sleeps: Callable[[float], None]) -> Iterator[BoundedHttpClient]:
    """The IdP adapters' bounded client for the stand-ins and the real peer:
    3 s per request (a Node.js peer on a busy machine), and retries that
    record their waits in ``sleeps`` instead of sleeping. A test of the
    timeout itself builds a client of its own."""
    with BoundedHttpClient(timeout=3.0, sleep=sleeps) as client:
        yield client


@pytest.fixture
def mock_http() -> Iterator[MockHttp]:
    """``mock_http(answer, **client_options)``: a ``BoundedHttpClient`` over an
    ``httpx.MockTransport`` calling ``answer``, closed after the test; no
    sleeping between retries unless ``sleep`` says otherwise."""
    clients: list[BoundedHttpClient] = []

    def make(
        answer: Callable[[httpx.Request], httpx.Response], **options: Any
    ) -> BoundedHttpClient:
        options.setdefault("sleep", lambda seconds: None)
        client = BoundedHttpClient(transport=httpx.MockTransport(answer), **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def mock_provider(mock_http: MockHttp) -> MockProvider:
    """``mock_provider(answer, budget=None, **client_options)``: the WorkOS
    login adapter on ``mock_http(answer, **client_options)``."""

    def make(
        answer: Callable[[httpx.Request], httpx.Response],
        budget: float | None = None,
        **options: Any,
    ) -> WorkOSIdentityProvider:
        return WorkOSIdentityProvider(
            mock_http(answer, **options),
            api_key=API_KEY,
            client_id=CLIENT_ID,
            base_url=MOCK_WORKOS_URL,
            budget=budget,
        )

    return make


@pytest.fixture
def mock_directory(mock_http: MockHttp) -> MockDirectory:
    """``mock_directory(answer, **client_options)``: the WorkOS directory
    adapter on ``mock_http(answer, **client_options)``."""

    def make(
        answer: Callable[[httpx.Request], httpx.Response], **options: Any
    ) -> WorkOSIdentityDirectory:
        api = WorkOSApi(
            mock_http(answer, **options), api_key=API_KEY, base_url=MOCK_WORKOS_URL
        )
        return WorkOSIdentityDirectory(api)

    return make


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
