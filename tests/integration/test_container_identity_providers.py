"""The container's ``identity_providers`` (name -> adapter, in the configured
order) and ``identity_provider`` (the default), built from settings: each
adapter made on first use, all remote ones on the one ``idp_http_client``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from dependency_injector import providers

from tests.integration.github_standin import CLIENT_ID as GITHUB_CLIENT
from tests.integration.github_standin import CLIENT_SECRET as GITHUB_SECRET
from tests.integration.oidc_standin import CLIENT_ID as OIDC_CLIENT
from tests.integration.oidc_standin import CLIENT_SECRET as OIDC_SECRET
from tests.integration.oidc_standin import OIDCStandIn
from tests.integration.workos_standin import API_KEY, CLIENT_ID, WorkOSStandIn, s256
from tests.threads import run_together
from wikibot_auth.adapters.github import GitHubIdentityProvider
from wikibot_auth.adapters.local_idp import LocalIdentityProvider
from wikibot_auth.adapters.memory import ScriptedIdentityProvider
from wikibot_auth.adapters.oidc import OIDCIdentityProvider
from wikibot_auth.adapters.workos import WorkOSIdentityProvider
from wikibot_auth.adapters.workos_directory import WorkOSIdentityDirectory
from wikibot_auth.domain.errors import InvalidRequest
from wikibot_auth.domain.model import AuthorizationRequest
from wikibot_auth.domain.pkce import new_code_verifier
from wikibot_auth.entrypoints.containers import Container, create_container
from wikibot_auth.entrypoints.identity_providers import IdentityProviders

REDIRECT = "https://wiki.example/auth/callback"


def environ(tmp_path, idp: str, **extra: str) -> dict[str, str]:
    return {
        "WIKIBOT_AUTH_DATA_DIR": str(tmp_path),
        "WIKIBOT_AUTH_USER_STORE": "memory://",
        "WIKIBOT_AUTH_REDIRECT_URI": REDIRECT,
        "WIKIBOT_AUTH_IDP": idp,
        "WORKOS_API_KEY": API_KEY,
        "WORKOS_CLIENT_ID": CLIENT_ID,
        "WIKIBOT_AUTH_OIDC_ACME_CLIENT_ID": OIDC_CLIENT,
        "WIKIBOT_AUTH_OIDC_ACME_CLIENT_SECRET": OIDC_SECRET,
        "WIKIBOT_AUTH_GITHUB_CLIENT_ID": GITHUB_CLIENT,
        "WIKIBOT_AUTH_GITHUB_CLIENT_SECRET": GITHUB_SECRET,
        **extra,
    }


@pytest.fixture
def several(
    tmp_path, oidc_standin: OIDCStandIn, standin: WorkOSStandIn, github_standin
) -> Iterator[Container]:
    container = create_container(
        environ(
            tmp_path,
            "workos,acme,github",
            WORKOS_BASE_URL=standin.url,
            WIKIBOT_AUTH_OIDC_ACME_ISSUER=oidc_standin.url,
            WIKIBOT_AUTH_GITHUB_URL=github_standin.url,
            WIKIBOT_AUTH_GITHUB_API_URL=github_standin.url,
        )
    )
    yield container
    container.shutdown_resources()


def redirect_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["redirect_uri"][0]


def test_the_providers_in_the_configured_order_the_first_the_default(several):
    found = several.identity_providers()
    assert isinstance(found, IdentityProviders)
    assert found.listing() == [
        {"name": "workos", "kind": "workos"},
        {"name": "acme", "kind": "oidc"},
        {"name": "github", "kind": "github"},
    ]
    assert isinstance(found["workos"], WorkOSIdentityProvider)
    assert isinstance(found["acme"], OIDCIdentityProvider)
    assert isinstance(found["github"], GitHubIdentityProvider)
    assert several.identity_provider() is found["workos"]


def test_adapters_are_made_on_first_use_and_discovery_waits_for_a_login(
    several, oidc_standin
):
    listing = several.identity_providers().listing()
    assert len(listing) == 3
    assert not several.idp_http_client.initialized  # nothing made yet
    acme = several.identity_providers()["acme"]
    assert oidc_standin.requests == []  # made, but no discovery yet
    several.authorization_url()(
        AuthorizationRequest("st", "ch", nonce="n", provider="acme")
    )
    assert len(oidc_standin.calls("discovery")) == 1
    assert several.identity_providers()["acme"] is acme  # kept


def client_of(adapter: Any) -> object:
    """The bounded client an adapter sends through (WorkOS's adapters keep it
    in the API helper they share)."""
    if isinstance(adapter, WorkOSIdentityProvider | WorkOSIdentityDirectory):
        return adapter._api._http
    return adapter._http


def test_every_remote_adapter_shares_the_one_http_client(several):
    client = several.idp_http_client()
    found = several.identity_providers()
    for name in ("workos", "acme", "github"):
        assert client_of(found[name]) is client, name
    assert client_of(several.identity_directory()) is client
    several.shutdown_resources()
    assert client.is_closed


def test_concurrent_first_use_makes_each_adapter_and_the_client_once(several):
    made: list[tuple[str, object]] = []

    def use(index: int) -> None:
        name = ("workos", "acme", "github")[index % 3]
        made.append((name, several.identity_providers()[name]))

    run_together(18, use)
    assert len({(name, id(adapter)) for name, adapter in made}) == 3
    client = several.idp_http_client()
    assert {id(client_of(adapter)) for _, adapter in made} == {id(client)}


def test_each_provider_is_sent_its_own_callback(several):
    url = several.authorization_url()
    for name in ("workos", "acme", "github"):
        request = AuthorizationRequest("st", "ch", nonce="n", provider=name)
        assert redirect_of(url(request)) == f"{REDIRECT}/{name}", name


def test_a_lone_provider_keeps_the_bare_callback(tmp_path, standin):
    container = create_container(
        environ(tmp_path, "workos", WORKOS_BASE_URL=standin.url)
    )
    url = container.authorization_url()(AuthorizationRequest("st", "ch"))
    assert redirect_of(url) == REDIRECT


def test_exchange_auth_code_without_a_name_uses_the_default(several, standin):
    verifier = new_code_verifier()
    code = standin.issue_code(s256(verifier))
    result = several.exchange_auth_code()(code, verifier)
    assert result.user.record.oauth_provider == "google"
    assert len(standin.calls("authenticate")) == 1


def test_an_unknown_name_is_invalid_request(several):
    with pytest.raises(InvalidRequest):
        several.authorization_url()(AuthorizationRequest("st", "ch", provider="okta"))


def test_overriding_identity_provider_replaces_the_default_everywhere(several):
    """The documented recipe (WorkOS with an SSO connection) overrides it."""
    scripted = ScriptedIdentityProvider()
    several.identity_provider.override(providers.Object(scripted))
    assert several.identity_providers()["workos"] is scripted
    url = several.authorization_url()(AuthorizationRequest("st", "ch"))
    assert url.startswith("https://idp.invalid/authorize?")
    assert isinstance(several.identity_providers()["acme"], OIDCIdentityProvider)


def test_with_none_an_overriding_adapter_is_the_lone_provider(tmp_path):
    container = create_container(environ(tmp_path, "none"))
    assert container.identity_providers().listing() == []
    scripted = ScriptedIdentityProvider()
    container.identity_provider.override(providers.Object(scripted))
    found = container.identity_providers()
    assert found.listing() == [{"name": "default", "kind": "custom"}]
    assert found["default"] is scripted


def test_the_local_idp_is_active_when_it_is_listed(tmp_path):
    listed = create_container(environ(tmp_path, "acme,local", **ACME_LOOPBACK))
    assert isinstance(listed.active_local_identity_provider(), LocalIdentityProvider)
    assert listed.identity_providers()["local"] is (
        listed.active_local_identity_provider()
    )
    alone = create_container(environ(tmp_path, "acme", **ACME_LOOPBACK))
    assert alone.active_local_identity_provider() is None


ACME_LOOPBACK = {"WIKIBOT_AUTH_OIDC_ACME_ISSUER": "http://127.0.0.1:9"}


def test_the_identity_directory_is_workos_whenever_its_api_key_is_set(tmp_path):
    # Whichever providers log people in; the directory needs no client id.
    env = environ(tmp_path, "acme", **ACME_LOOPBACK)
    del env["WORKOS_CLIENT_ID"]
    directory = create_container(env).identity_directory()
    assert isinstance(directory, WorkOSIdentityDirectory)
    del env["WORKOS_API_KEY"]
    assert create_container(env).identity_directory() is None
