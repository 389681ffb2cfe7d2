"""One contract for the ``IdentityProvider`` port, run against every adapter:
the scripted in-memory provider, the local provider, WorkOS and GitHub (over
HTTP to their stand-ins) and OpenID Connect (over HTTP to oidc-provider, a
certified provider), so the fakes cannot drift from the real thing."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest

from tests.conftest import workos_profile
from tests.integration import github_standin, oidc_peer
from tests.integration.workos_standin import API_KEY, CLIENT_ID, WorkOSStandIn
from wikibot_auth.adapters.bounded_http import BoundedHttpClient
from wikibot_auth.adapters.github import GitHubIdentityProvider
from wikibot_auth.adapters.local_idp import LocalIdentityProvider
from wikibot_auth.adapters.memory import FixedClock, ScriptedIdentityProvider
from wikibot_auth.adapters.oidc import OIDCIdentityProvider, OIDCProviderConfig
from wikibot_auth.adapters.workos import WorkOSIdentityProvider
from wikibot_auth.domain.errors import LoginFailed
from wikibot_auth.domain.model import (
    AuthorizationRequest,
    Identity,
    IdentityProfile,
    LoginCallback,
)
from wikibot_auth.domain.pkce import code_challenge_s256, new_code_verifier
from wikibot_auth.domain.ports import IdentityProvider

REDIRECT = "https://wiki.example/auth/callback"
NONCE = "contract-nonce-4f1d2c"


@attrs.define
class Harness:
    provider: IdentityProvider
    issue_code: Callable[[str], str]  # code challenge -> a fresh code
    iss: str | None = None  # what the provider's callbacks carry (RFC 9207)
    hint: str = "login_hint"  # the authorize parameter a login hint becomes


def scripted() -> Harness:
    idp = ScriptedIdentityProvider()

    def issue(challenge: str) -> str:
        code = secrets.token_urlsafe(16)
        idp.script(code, workos_profile(), code_challenge=challenge)
        return code

    return Harness(idp, issue)


def local() -> Harness:
    idp = LocalIdentityProvider(FixedClock())
    return Harness(idp, lambda c: idp.issue_code(" Ada@Example.com ", "Ada", c))


def oidc(http: BoundedHttpClient, peer: oidc_peer.OIDCPeer) -> Harness:
    client = "wikibot-basic"
    config = OIDCProviderConfig(
        "google", peer.issuer, client, oidc_peer.SECRETS[client], redirect_uri=REDIRECT
    )
    idp = OIDCIdentityProvider(http, config)

    def issue(challenge: str) -> str:
        request = AuthorizationRequest("st", challenge, REDIRECT, nonce=NONCE)
        return peer.authorize(idp.authorization_url(request))["code"]

    return Harness(idp, issue, iss=peer.issuer)


def github(http: BoundedHttpClient, server: github_standin.GitHubStandIn) -> Harness:
    idp = GitHubIdentityProvider(
        http,
        client_id=github_standin.CLIENT_ID,
        client_secret=github_standin.CLIENT_SECRET,
        base_url=server.url,
        api_url=server.url,
        redirect_uri=REDIRECT,
    )
    return Harness(idp, server.issue_code, hint="login")


def workos(http: BoundedHttpClient, server: WorkOSStandIn) -> Harness:
    idp = WorkOSIdentityProvider(
        http,
        api_key=API_KEY,
        client_id=CLIENT_ID,
        base_url=server.url,
        redirect_uri=REDIRECT,
    )
    return Harness(idp, server.issue_code)


@pytest.fixture(params=["scripted", "local", "workos", "oidc", "github"])
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "scripted":
        return scripted()
    if request.param == "local":
        return local()
    # The remote providers, each on the shared client over HTTP to its peer.
    http = request.getfixturevalue("http")
    if request.param == "oidc":
        return oidc(http, request.getfixturevalue("oidc_peer"))
    if request.param == "github":
        return github(http, request.getfixturevalue("github_standin"))
    return workos(http, request.getfixturevalue("standin"))


def start(harness: Harness) -> LoginCallback:
    verifier = new_code_verifier()
    code = harness.issue_code(code_challenge_s256(verifier))
    return LoginCallback(code, verifier, REDIRECT, nonce=NONCE, iss=harness.iss)


def test_a_code_exchanges_to_a_profile(harness):
    profile = harness.provider.exchange_code(start(harness))
    assert isinstance(profile, IdentityProfile)
    assert isinstance(profile.alias, Identity)
    assert "@" in profile.email
    assert profile.display_name
    assert isinstance(profile.primary, Identity)
    assert not profile.identity_lookup_failed


def test_the_same_code_twice_is_a_failed_login(harness):
    callback = start(harness)
    harness.provider.exchange_code(callback)
    with pytest.raises(LoginFailed):
        harness.provider.exchange_code(callback)


def test_a_wrong_verifier_is_a_failed_login(harness):
    callback = attrs.evolve(start(harness), code_verifier=new_code_verifier())
    with pytest.raises(LoginFailed):
        harness.provider.exchange_code(callback)


def test_an_unknown_code_is_a_failed_login(harness):
    with pytest.raises(LoginFailed):
        harness.provider.exchange_code(
            LoginCallback(
                "no-such-code", new_code_verifier(), REDIRECT, NONCE, harness.iss
            )
        )


def test_the_same_person_gets_the_same_alias_each_time(harness):
    first = harness.provider.exchange_code(start(harness))
    second = harness.provider.exchange_code(start(harness))
    assert first.alias == second.alias
    assert first.primary == second.primary


def test_the_authorization_url_carries_state_and_the_s256_challenge(harness):
    challenge = code_challenge_s256(new_code_verifier())
    url = harness.provider.authorization_url(
        AuthorizationRequest("state-123", challenge, REDIRECT, nonce=NONCE)
    )
    params = parse_qs(urlsplit(url).query)
    assert params["state"] == ["state-123"]
    assert params["code_challenge"] == [challenge]
    assert params["code_challenge_method"] == ["S256"]
    assert params["redirect_uri"] == [REDIRECT]


def test_user_supplied_values_cannot_add_parameters(harness):
    plain = harness.provider.authorization_url(
        AuthorizationRequest("s", "c", REDIRECT, nonce=NONCE, login_hint="a@b.c")
    )
    hint = "a@b.c&state=evil&code_challenge=evil#frag"
    url = harness.provider.authorization_url(
        AuthorizationRequest("s", "c", REDIRECT, nonce=NONCE, login_hint=hint)
    )
    params = parse_qs(urlsplit(url).query)
    assert params.keys() == parse_qs(urlsplit(plain).query).keys()
    assert params[harness.hint] == [hint]
    assert (params["state"], params["code_challenge"]) == (["s"], ["c"])
    assert urlsplit(url).fragment == ""
