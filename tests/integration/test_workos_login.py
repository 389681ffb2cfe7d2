"""Login end to end: the domain's ExchangeAuthCode, the in-memory store and the
WorkOS adapter over HTTP to the stand-in; then the same through the container."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.integration.conftest import MockProvider
from tests.integration.workos_standin import (
    API_KEY,
    CLIENT_ID,
    WorkOSStandIn,
    s256,
)
from wikibot_auth.adapters.bounded_http import BoundedHttpClient
from wikibot_auth.adapters.workos import WorkOSIdentityProvider
from wikibot_auth.domain.errors import LoginFailed, LoginStepRequired
from wikibot_auth.domain.model import AuthorizationRequest, Identity, LoginResult
from wikibot_auth.domain.pkce import new_code_verifier
from wikibot_auth.domain.use_cases import ExchangeAuthCode
from wikibot_auth.entrypoints.containers import create_container

GOOGLE_USER = "user_01E4ZCR3C56J083X43JQXF3JK5"
GOOGLE = Identity("google", "108872335")


@pytest.fixture
def workos(standin: WorkOSStandIn, http: BoundedHttpClient) -> WorkOSIdentityProvider:
    return WorkOSIdentityProvider(
        http, api_key=API_KEY, client_id=CLIENT_ID, base_url=standin.url
    )


@pytest.fixture
def exchange(workos, repo, signer, clock) -> ExchangeAuthCode:
    return ExchangeAuthCode(workos, repo, signer, clock)


def login(
    standin: WorkOSStandIn,
    exchange: ExchangeAuthCode,
    scenario: str = "google",
    **user: str,
) -> LoginResult:
    verifier = new_code_verifier()
    return exchange(standin.issue_code(s256(verifier), scenario, **user), verifier)


def test_first_login_creates_a_user_with_the_normalized_raw_identity(
    standin, exchange, repo
):
    result = login(standin, exchange)
    record = result.user.record
    assert result.created
    assert (record.oauth_provider, record.oauth_provider_sub) == ("google", "108872335")
    assert record.workos_user_id == GOOGLE_USER
    assert record.display_name == "Marcelina Davis"
    assert repo.find_by_identity(GOOGLE) == record
    assert repo.find_by_identity(Identity.workos(GOOGLE_USER)) == record


def test_github_spelling_is_stored_normalized(standin, exchange):
    record = login(standin, exchange, "github").user.record
    assert (record.oauth_provider, record.oauth_provider_sub) == ("github", "583231")
    assert record.display_name == "Octo"


def test_a_user_without_oauth_identities_gets_the_workos_alias(standin, exchange):
    record = login(standin, exchange, "password").user.record
    assert (record.oauth_provider, record.oauth_provider_sub) == (
        "workos",
        "user_01J0PASSWORDONLYUSER00000",
    )


def test_a_failed_identities_call_resolves_the_same_user_with_a_warning(
    standin, exchange, repo, caplog
):
    first = login(standin, exchange)
    standin.fail("identities", "500", times=2)
    with caplog.at_level(logging.WARNING, logger="wikibot_auth"):
        second = login(standin, exchange)
    assert second.user.user_id == first.user.user_id
    assert not second.created
    assert repo.user_count() == 1
    assert second.user.record.oauth_provider == "google"
    assert "identity lookup failed" in caplog.text


def test_a_failed_first_lookup_is_linked_on_a_later_login(standin, exchange, repo):
    standin.fail("identities", "reset", times=2)
    first = login(standin, exchange)
    assert first.user.record.oauth_provider == "workos"
    second = login(standin, exchange)
    assert second.user.user_id == first.user.user_id
    assert (second.user.record.oauth_provider, repo.user_count()) == ("google", 1)
    assert repo.find_by_identity(GOOGLE).user_id == first.user.user_id


def test_a_changed_name_updates_only_the_name(standin, exchange, repo):
    first = login(standin, exchange)
    user_id = first.user.user_id
    repo.put_raw_item({**repo.raw_item(user_id), "tier": "pro", "extra": "kept"})
    writes = len(repo.writes)
    second = login(standin, exchange, first_name="Marcy")
    item = repo.raw_item(user_id)
    assert second.user.display_name == "Marcy Davis"
    assert (item["display_name"], item["email"]) == (
        "Marcy Davis",
        "marcelina.davis@example.com",
    )
    assert (item["tier"], item["extra"]) == ("pro", "kept")
    assert list(repo.writes)[writes:] == [("update_profile", user_id)]


def test_a_refused_code_creates_nothing(standin, exchange, repo):
    with pytest.raises(LoginFailed):
        exchange("01NOSUCHCODE", new_code_verifier())
    assert (repo.user_count(), list(repo.writes)) == (0, [])


def test_email_verification_creates_nothing(standin, exchange, repo):
    with pytest.raises(LoginStepRequired):
        login(standin, exchange, "email_verification")
    assert (repo.user_count(), list(repo.writes)) == (0, [])


def test_login_through_the_container(standin, tmp_path):
    container = create_container(
        {
            "WORKOS_API_KEY": API_KEY,
            "WORKOS_CLIENT_ID": CLIENT_ID,
            "WORKOS_BASE_URL": standin.url + "/",
            "WIKIBOT_AUTH_USER_STORE": "memory://",
            "WIKIBOT_AUTH_DATA_DIR": str(tmp_path),
            "WIKIBOT_AUTH_REDIRECT_URI": "https://wiki.example/auth/callback",
            "WIKIBOT_AUTH_IDP_TIMEOUT": "2.5",
        }
    )
    try:
        verifier = new_code_verifier()
        url = container.authorization_url()(AuthorizationRequest("st", s256(verifier)))
        assert url.startswith(standin.url + "/user_management/authorize?")
        code = standin.issue_code(s256(verifier))
        result = container.exchange_auth_code()(code, verifier)
        user = container.authenticate()(f"Bearer {result.token}")
        assert user.user_id == result.user.user_id
        assert user.record.oauth_provider == "google"
        client = container.idp_http_client()
        assert client.timeout == 2.5
    finally:
        container.shutdown_resources()
    assert client.is_closed


# -- identities the adapter must not trust, or must order -------------------


def answering(user_id: str, identities: list[dict[str, str]], method: str = ""):
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/authenticate"):
            user = {"id": user_id, "email": f"{user_id}@example.com"}
            return httpx.Response(
                200, json={"user": user, "authentication_method": method}
            )
        return httpx.Response(200, json=identities)

    return answer


@pytest.mark.parametrize("provider", ["WorkOSOAuth", "LocalOAuth"])
def test_an_identity_in_our_namespaces_never_reaches_another_account(
    mock_provider: MockProvider, repo, signer, clock, provider
):
    victim = ExchangeAuthCode(
        mock_provider(answering("user_VICTIM", [])), repo, signer, clock
    )("c", new_code_verifier())
    forged = [{"idp_id": "user_VICTIM", "type": "OAuth", "provider": provider}]
    if provider == "LocalOAuth":
        forged[0]["idp_id"] = "user_victim@example.com"
        repo.link_identity(
            victim.user.user_id,
            Identity.local("user_VICTIM@example.com"),
            primary=False,
        )
    attacker = ExchangeAuthCode(
        mock_provider(answering("user_ATTACKER", forged)), repo, signer, clock
    )("c", new_code_verifier())
    assert attacker.created
    assert attacker.user.user_id != victim.user.user_id
    assert attacker.user.record.oauth_provider == "workos"
    assert attacker.user.record.oauth_provider_sub == "user_ATTACKER"


def test_the_stored_identity_does_not_depend_on_the_sign_in_method(
    mock_provider: MockProvider, repo, signer, clock
):
    identities = [
        {"idp_id": "g1", "type": "OAuth", "provider": "GoogleOAuth"},
        {"idp_id": "h1", "type": "OAuth", "provider": "GithubOAuth"},
    ]
    records = [
        ExchangeAuthCode(
            mock_provider(answering("user_01", identities, method)),
            repo,
            signer,
            clock,
        )("c", new_code_verifier()).user.record
        for method in ("GoogleOAuth", "GitHubOAuth", "GoogleOAuth")
    ]
    assert {(r.oauth_provider, r.oauth_provider_sub) for r in records} == {
        ("github", "h1")
    }
    assert repo.user_count() == 1
