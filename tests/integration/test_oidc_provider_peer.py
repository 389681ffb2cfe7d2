"""The OIDC adapter against a real certified OpenID provider (panva's
oidc-provider, see ``oidc_peer.py``): discovery, the login and consent pages,
PKCE, each client authentication method, ID tokens in RS256, ES256, EdDSA and
PS256, the profile in the ID token (the ``claims`` parameter) or from
UserInfo, RFC 9207's ``iss``; and Alice, who signed up through WorkOS
with Google, found again when she signs in with Google directly."""

from __future__ import annotations

import json
import secrets

import attrs
import pytest

from tests.integration.oidc_peer import (
    ALICE,
    REDIRECT,
    ROOT,
    UNVERIFIED,
    VERSION,
    OIDCPeer,
)
from tests.integration.workos_standin import API_KEY, CLIENT_ID, WorkOSStandIn, s256
from wikibot_auth.adapters.oidc import OIDCIdentityProvider
from wikibot_auth.adapters.workos import WorkOSIdentityProvider
from wikibot_auth.domain.errors import IdPError, InvalidCallback, LoginFailed
from wikibot_auth.domain.model import (
    AuthorizationRequest,
    Identity,
    IdentityProfile,
    LoginCallback,
)
from wikibot_auth.domain.pkce import code_challenge_s256, new_code_verifier
from wikibot_auth.domain.use_cases import ExchangeAuthCode

ALICE_AT_GOOGLE = Identity("google", ALICE)
ALICE_PROFILE = IdentityProfile(
    alias=ALICE_AT_GOOGLE,
    email="alice@example.com",
    first_name="Alice Liddell",
    email_verified=True,
)
USERINFO = "/me"  # oidc-provider's UserInfo endpoint


def callback(
    idp: OIDCIdentityProvider, peer: OIDCPeer, account: str = ALICE
) -> LoginCallback:
    """Log in at the peer as ``account``: the callback our route would build."""
    verifier, nonce, state = new_code_verifier(), secrets.token_urlsafe(16), "st-1"
    url = idp.authorization_url(
        AuthorizationRequest(
            state, code_challenge_s256(verifier), redirect_uri=REDIRECT, nonce=nonce
        )
    )
    answer = peer.authorize(url, account)
    assert answer["state"] == state
    return LoginCallback(
        answer["code"], verifier, REDIRECT, nonce=nonce, iss=answer.get("iss")
    )


def login(idp: OIDCIdentityProvider, peer: OIDCPeer, account: str = ALICE):
    return idp.exchange_code(callback(idp, peer, account))


@pytest.mark.parametrize(
    ("client_id", "method"),
    [
        ("wikibot-basic", None),  # discovery lists client_secret_basic first
        ("wikibot-post", "client_secret_post"),  # and its ID tokens are ES256
        ("wikibot-public", None),  # none; EdDSA
        ("wikibot-ps256", "none"),  # PS256
    ],
)
def test_each_client_authentication_and_algorithm_logs_alice_in(
    http, oidc_peer, client_id, method
):
    idp = oidc_peer.google(http, client_id, token_auth_method=method)
    userinfo = oidc_peer.requests().get(USERINFO, 0)
    profile = login(idp, oidc_peer)
    assert profile == ALICE_PROFILE
    assert profile.primary == ALICE_AT_GOOGLE
    assert profile.display_name == "Alice Liddell"
    # The peer takes the claims parameter: the profile came in the ID token.
    assert oidc_peer.requests().get(USERINFO, 0) == userinfo


def test_a_provider_without_the_claims_parameter_gives_the_profile_by_userinfo(
    http, oidc_peer_without_claims_parameter
):
    peer = oidc_peer_without_claims_parameter
    idp = peer.google(http)
    assert not idp.metadata().claims_parameter_supported
    userinfo = peer.requests().get(USERINFO, 0)
    assert login(idp, peer) == ALICE_PROFILE
    assert peer.requests().get(USERINFO, 0) == userinfo + 1


def test_discovery_says_the_callback_carries_iss(http, oidc_peer):
    metadata = oidc_peer.google(http).metadata()
    assert metadata.issuer == oidc_peer.issuer
    assert metadata.iss_parameter_supported
    assert set(metadata.id_token_algorithms) == {"RS256", "PS256", "ES256", "EdDSA"}


def test_a_confidential_client_that_sends_no_secret_is_refused(http, oidc_peer):
    # The peer enforces the kind of method registered for the client (it
    # takes either client_secret_* for the other), as Auth0 does.
    idp = oidc_peer.google(http, token_auth_method="none")
    with pytest.raises(IdPError):
        login(idp, oidc_peer)


def test_a_wrong_client_secret_is_an_idp_error(http, oidc_peer):
    idp = oidc_peer.google(http)
    idp = OIDCIdentityProvider(http, attrs.evolve(idp.config, client_secret="wrong"))
    with pytest.raises(IdPError):
        login(idp, oidc_peer)


def test_an_unverified_email_is_not_taken(http, oidc_peer):
    profile = login(oidc_peer.google(http), oidc_peer, UNVERIFIED)
    assert profile.alias == Identity("google", UNVERIFIED)
    assert (profile.email, profile.email_verified) == ("", False)
    assert profile.display_name == "Mal Lory"


def test_a_callback_without_iss_is_refused_before_the_code_is_spent(http, oidc_peer):
    idp = oidc_peer.google(http)
    good = callback(idp, oidc_peer)
    for iss in (None, "https://attacker.example"):
        with pytest.raises(InvalidCallback):
            idp.exchange_code(attrs.evolve(good, iss=iss))
    assert idp.exchange_code(good).alias == ALICE_AT_GOOGLE  # still unspent


def test_a_spent_code_is_a_failed_login(http, oidc_peer):
    idp = oidc_peer.google(http)
    good = callback(idp, oidc_peer)
    idp.exchange_code(good)
    with pytest.raises(LoginFailed):
        idp.exchange_code(good)


def test_a_wrong_verifier_is_a_failed_login(http, oidc_peer):
    idp = oidc_peer.google(http, "wikibot-public")
    bad = attrs.evolve(callback(idp, oidc_peer), code_verifier=new_code_verifier())
    with pytest.raises(LoginFailed):
        idp.exchange_code(bad)


def test_the_nonce_of_another_login_is_a_failed_login(http, oidc_peer):
    idp = oidc_peer.google(http)
    with pytest.raises(LoginFailed):
        idp.exchange_code(attrs.evolve(callback(idp, oidc_peer), nonce="another"))


def test_alice_from_workos_is_the_same_user_through_google_directly(
    http, oidc_peer, standin: WorkOSStandIn, repo, signer, clock
):
    workos = WorkOSIdentityProvider(
        http, api_key=API_KEY, client_id=CLIENT_ID, base_url=standin.url
    )
    verifier = new_code_verifier()
    code = standin.issue_code(s256(verifier), "google", first_name="Al")
    first = ExchangeAuthCode(workos, repo, signer, clock)(code, verifier)
    assert first.created
    idp = oidc_peer.google(http)
    second = ExchangeAuthCode(idp, repo, signer, clock).finish(callback(idp, oidc_peer))
    assert not second.created
    assert second.user.user_id == first.user.user_id
    record = second.user.record
    assert (record.oauth_provider, record.oauth_provider_sub) == ("google", ALICE)
    assert record.display_name == "Alice Liddell"  # synced from the new provider
    assert record.workos_user_id == first.user.record.workos_user_id


def test_the_peer_is_pinned_exactly():
    package = json.loads((ROOT / "package.json").read_text())
    assert package["devDependencies"]["oidc-provider"] == VERSION
