"""The OIDC adapter against the OpenID stand-in: discovery (cached, checked),
client authentication, RFC 9207's ``iss``, UserInfo, the profile and email
rules, the presets' quirks, the error table, and how its profile resolves to
a user."""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest

from tests.integration.oidc_helpers import Mint, acme, exchange, start
from tests.integration.oidc_standin import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT,
    SUBJECT,
    OIDCStandIn,
    sign,
)
from tests.integration.peer_process import free_port
from wikibot_auth.adapters.bounded_http import BoundedHttpClient
from wikibot_auth.adapters.oauth_client import basic_credentials
from wikibot_auth.adapters.oidc import PRESETS, OIDCProviderConfig
from wikibot_auth.adapters.oidc_id_token import JWKSCache
from wikibot_auth.domain.errors import (
    IdPError,
    IdPUnavailable,
    InvalidCallback,
    InvalidRequest,
    LoginFailed,
    NotConfigured,
)
from wikibot_auth.domain.model import (
    AuthorizationRequest,
    Identity,
    IdentityProfile,
    User,
)
from wikibot_auth.domain.use_cases import ExchangeAuthCode

ACME = Identity("acme", SUBJECT)


def claims_mint(**changes) -> Mint:
    return lambda s, n: sign(s.claims(n, **changes))


# -- the authorization URL -------------------------------------------------


def test_the_authorization_url_asks_for_a_code_with_pkce_and_a_nonce(
    http, oidc_standin
):
    url = acme(http, oidc_standin).authorization_url(
        AuthorizationRequest("st", "ch" * 22, redirect_uri=REDIRECT, nonce="n-1")
    )
    assert url.startswith(oidc_standin.url + "/authorize?")
    assert parse_qs(urlsplit(url).query) == {
        "response_type": ["code"],
        "client_id": [CLIENT_ID],
        "redirect_uri": [REDIRECT],
        "scope": ["openid email profile"],
        "state": ["st"],
        "nonce": ["n-1"],
        "code_challenge": ["ch" * 22],
        "code_challenge_method": ["S256"],
    }


def test_a_login_without_a_nonce_is_refused(http, oidc_standin):
    idp = acme(http, oidc_standin)
    with pytest.raises(InvalidRequest):
        idp.authorization_url(AuthorizationRequest("st", "ch", redirect_uri=REDIRECT))
    login = start(oidc_standin)
    with pytest.raises(InvalidCallback):
        idp.exchange_code(attrs.evolve(login.callback, nonce=None))


def test_sign_up_asks_for_prompt_create_where_the_provider_offers_it(
    http, oidc_standin
):
    oidc_standin.discovery["prompt_values_supported"] = ["none", "login", "create"]
    url = acme(http, oidc_standin).authorization_url(
        AuthorizationRequest("s", "c", REDIRECT, nonce="n", screen_hint="sign-up")
    )
    assert parse_qs(urlsplit(url).query)["prompt"] == ["create"]


@pytest.mark.parametrize(
    ("scopes", "asked"),
    [
        (
            ("openid", "email", "profile"),
            ["email", "email_verified", "name", "given_name", "family_name"],
        ),
        (("openid", "email"), ["email", "email_verified"]),
        (("openid", "profile"), ["name", "given_name", "family_name"]),
        (("openid",), None),
    ],
)
def test_the_profile_is_asked_for_in_the_id_token_where_the_claims_parameter_is_taken(
    http, oidc_standin, scopes, asked
):
    oidc_standin.discovery["claims_parameter_supported"] = True
    url = acme(http, oidc_standin, scopes=scopes).authorization_url(
        AuthorizationRequest("s", "c", REDIRECT, nonce="n")
    )
    claims = parse_qs(urlsplit(url).query).get("claims")
    if asked is None:
        assert claims is None
    else:
        assert claims is not None
        assert json.loads(claims[0]) == {"id_token": dict.fromkeys(asked)}


@pytest.mark.parametrize("flag", [False, "true", 1, None])
def test_no_claims_parameter_goes_to_a_provider_that_does_not_say_it_takes_one(
    http, oidc_standin, flag
):
    oidc_standin.discovery["claims_parameter_supported"] = flag
    url = acme(http, oidc_standin).authorization_url(
        AuthorizationRequest("s", "c", REDIRECT, nonce="n")
    )
    assert "claims" not in parse_qs(urlsplit(url).query)


# -- discovery ---------------------------------------------------------------


def test_discovery_is_read_once_and_kept(http, oidc_standin):
    idp = acme(http, oidc_standin)
    exchange(idp, oidc_standin)
    exchange(idp, oidc_standin)
    assert len(oidc_standin.calls("discovery")) == 1
    assert len(oidc_standin.calls("jwks")) == 1


def test_a_failed_discovery_is_not_kept(http, oidc_standin):
    oidc_standin.fail("discovery", "500", times=2)  # one retry
    idp = acme(http, oidc_standin)
    with pytest.raises(IdPError):
        exchange(idp, oidc_standin)
    assert exchange(idp, oidc_standin).alias == ACME


def test_discovery_endpoints_must_be_https_or_loopback(http, oidc_standin):
    oidc_standin.discovery["token_endpoint"] = "http://token.example/token"
    with pytest.raises(IdPError):
        exchange(acme(http, oidc_standin), oidc_standin)


def test_an_unreachable_provider_is_unavailable(http, oidc_standin):
    idp = acme(http, oidc_standin, issuer=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(IdPUnavailable):
        exchange(idp, oidc_standin)


# -- client authentication -------------------------------------------------


@pytest.mark.parametrize(
    ("method", "secret", "listed"),
    [
        ("client_secret_basic", CLIENT_SECRET, None),
        (
            "client_secret_post",
            CLIENT_SECRET,
            ["client_secret_post", "client_secret_basic"],
        ),
        ("none", None, None),
    ],
)
def test_the_default_method_is_the_first_listed_that_the_configuration_allows(
    http, oidc_standin, method, secret, listed
):
    if listed:
        oidc_standin.discovery["token_endpoint_auth_methods_supported"] = listed
    oidc_standin.auth_method = method
    assert exchange(acme(http, oidc_standin, client_secret=secret), oidc_standin)
    request = oidc_standin.calls("token")[0]
    assert (CLIENT_SECRET in request[3]) == (method == "client_secret_post")


def test_basic_credentials_are_form_encoded_first():
    value = basic_credentials("id with space", "p:ss/wörd")
    decoded = base64.b64decode(value.removeprefix("Basic ")).decode()
    assert decoded == "id+with+space:p%3Ass%2Fw%C3%B6rd"


def test_a_method_the_provider_does_not_list_is_not_configured(http, oidc_standin):
    oidc_standin.discovery["token_endpoint_auth_methods_supported"] = [
        "private_key_jwt"
    ]
    with pytest.raises(NotConfigured):
        exchange(acme(http, oidc_standin), oidc_standin)
    assert oidc_standin.calls("token") == []


def test_a_secret_method_without_a_secret_is_not_configured():
    with pytest.raises(NotConfigured):
        OIDCProviderConfig(
            "acme", "https://id.example", "c", token_auth_method="client_secret_post"
        )


# -- RFC 9207: the iss of the authorization response -----------------------


def test_where_advertised_the_callback_iss_is_required_and_must_match(
    http, oidc_standin
):
    oidc_standin.discovery["authorization_response_iss_parameter_supported"] = True
    idp = acme(http, oidc_standin)
    for iss in (None, "https://accounts.evil.example"):
        with pytest.raises(InvalidCallback):
            exchange(idp, oidc_standin, iss=iss)
    assert oidc_standin.calls("token") == []  # no code went anywhere
    assert exchange(idp, oidc_standin, iss=oidc_standin.issuer).alias == ACME


def test_a_callback_iss_of_another_provider_is_refused_even_unadvertised(
    http, oidc_standin
):
    with pytest.raises(InvalidCallback):
        exchange(acme(http, oidc_standin), oidc_standin, iss="https://other.example")
    assert exchange(acme(http, oidc_standin), oidc_standin, iss=None).alias == ACME


# -- the profile -------------------------------------------------------------


def test_the_identity_is_the_provider_name_and_the_subject(http, oidc_standin):
    profile = exchange(acme(http, oidc_standin), oidc_standin)
    assert (profile.alias, profile.identity, profile.primary) == (ACME, None, ACME)
    assert (profile.email, profile.email_verified) == ("ada@example.com", True)
    assert profile.display_name == "Ada Lovelace"
    assert profile.workos_user_id is None


@pytest.mark.parametrize(
    ("changes", "email", "verified", "display"),
    [
        ({"email_verified": False}, "", False, "Ada Lovelace"),
        ({"email_verified": None}, "", False, "Ada Lovelace"),
        ({"email_verified": "true"}, "ada@example.com", True, "Ada Lovelace"),
        (
            {"name": None, "given_name": "Ada", "family_name": "King"},
            "ada@example.com",
            True,
            "Ada King",
        ),
        ({"name": None}, "ada@example.com", True, "ada"),
        ({"name": None, "email_verified": False}, "", False, ""),
    ],
)
def test_the_email_only_when_verified_and_the_name_in_order(
    http, oidc_standin, changes, email, verified, display
):
    oidc_standin.discovery.pop("userinfo_endpoint")
    profile = exchange(acme(http, oidc_standin), oidc_standin, claims_mint(**changes))
    assert (profile.email, profile.email_verified, profile.display_name) == (
        email,
        verified,
        display,
    )


def with_user_info(
    http: BoundedHttpClient, standin: OIDCStandIn, mint: Mint, **info: Any
) -> IdentityProfile:
    """A login at ``acme`` whose UserInfo answers ``info`` (about ``SUBJECT``
    unless ``sub`` says otherwise)."""
    return exchange(
        acme(http, standin), standin, mint, userinfo={"sub": SUBJECT, **info}
    )


def test_user_info_fills_what_the_id_token_lacks(http, oidc_standin):
    mint = claims_mint(email=None, email_verified=None, name=None)
    profile = with_user_info(
        http,
        oidc_standin,
        mint,
        email="ada@example.com",
        email_verified=True,
        name="Ada",
    )
    assert (profile.email, profile.display_name) == ("ada@example.com", "Ada")
    assert oidc_standin.calls("userinfo")[0][2]["Authorization"].startswith("Bearer ")


def test_user_info_is_not_asked_when_the_id_token_has_it_all(http, oidc_standin):
    exchange(acme(http, oidc_standin), oidc_standin)
    assert oidc_standin.calls("userinfo") == []


def test_user_info_about_another_subject_is_an_idp_error(http, oidc_standin):
    mint = claims_mint(email=None, name=None)
    with pytest.raises(IdPError):
        with_user_info(
            http,
            oidc_standin,
            mint,
            sub="someone-else",
            email="eve@example.com",
            email_verified=True,
        )


def test_the_email_and_its_verification_come_from_one_answer(http, oidc_standin):
    # The ID token's unverified email is not made verified by UserInfo.
    mint = claims_mint(email_verified=None, name=None)
    profile = with_user_info(
        http,
        oidc_standin,
        mint,
        email="other@example.com",
        email_verified=True,
        name="A",
    )
    assert (profile.email, profile.email_verified) == ("", False)


@pytest.mark.parametrize("mode", ["500", "malformed"])
def test_a_failing_user_info_is_an_idp_error(http, oidc_standin, mode):
    oidc_standin.fail("userinfo", mode, times=2)
    with pytest.raises(IdPError):
        exchange(acme(http, oidc_standin), oidc_standin, claims_mint(email=None))


# -- presets -----------------------------------------------------------------


def test_the_presets_are_data():
    google = OIDCProviderConfig.for_provider("google", client_id="c")
    assert (google.issuer, google.subject_claim) == (
        "https://accounts.google.com",
        "sub",
    )
    assert google.issuer_aliases == ("accounts.google.com",)
    microsoft = OIDCProviderConfig.for_provider("microsoft", client_id="c")
    assert microsoft.issuer == PRESETS["microsoft"].issuer
    assert (microsoft.subject_claim, microsoft.lowercase_subject) == ("oid", True)
    assert microsoft.discovery_issuer.endswith("/{tenantid}/v2.0")
    moved = OIDCProviderConfig.for_provider(
        "google", client_id="c", issuer="https://x.example"
    )
    assert (moved.issuer_aliases, moved.tenant_issuer) == ((), None)
    with pytest.raises(NotConfigured):
        OIDCProviderConfig.for_provider("okta", client_id="c")


def test_googles_scheme_less_issuer_is_accepted_by_its_quirk(http, oidc_standin):
    bare = oidc_standin.issuer.removeprefix("http://")
    idp = acme(http, oidc_standin, name="google", issuer_aliases=(bare,))
    profile = exchange(idp, oidc_standin, claims_mint(iss=bare))
    assert profile.alias == Identity("google", SUBJECT)


TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
OID = "00000000-0000-0000-66F3-3332ECA7EA81"


@pytest.fixture
def entra(http, oidc_standin: OIDCStandIn):
    """The stand-in as Microsoft's multi-tenant endpoint."""
    oidc_standin.reset(issuer=oidc_standin.url + "/{tenantid}/v2.0")
    return acme(
        http,
        oidc_standin,
        name="microsoft",
        issuer=oidc_standin.url + "/common/v2.0",
        tenant_issuer=oidc_standin.url + "/{tenantid}/v2.0",
        subject_claim="oid",
        lowercase_subject=True,
    )


def test_microsofts_tenant_issuer_is_checked_against_tid(entra, oidc_standin):
    issuer = f"{oidc_standin.url}/{TENANT}/v2.0"
    profile = exchange(
        entra, oidc_standin, claims_mint(iss=issuer, tid=TENANT, oid=OID)
    )
    assert profile.alias == Identity("microsoft", OID.lower())
    other = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    for changes in ({"tid": other}, {"tid": None}, {"tid": "common"}):
        with pytest.raises(IdPError):
            exchange(entra, oidc_standin, claims_mint(iss=issuer, oid=OID, **changes))


def test_a_missing_subject_claim_is_an_idp_error(entra, oidc_standin):
    issuer = f"{oidc_standin.url}/{TENANT}/v2.0"
    with pytest.raises(IdPError):
        exchange(entra, oidc_standin, claims_mint(iss=issuer, tid=TENANT))


# -- the error table ---------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("500", IdPError),
        ("429", IdPUnavailable),
        ("reset", IdPUnavailable),
        ("malformed", IdPError),
    ],
)
def test_token_endpoint_failures_map_onto_the_error_table(
    http, oidc_standin, mode, error
):
    oidc_standin.fail("token", mode)
    with pytest.raises(error):
        exchange(acme(http, oidc_standin), oidc_standin)
    assert len(oidc_standin.calls("token")) == 1  # a code is never retried


def test_a_slow_token_endpoint_is_unavailable(oidc_standin):
    oidc_standin.slow_seconds = 1.5
    oidc_standin.fail("token", "slow")
    with (
        BoundedHttpClient(timeout=1.0) as http,  # shorter than the token's wait
        pytest.raises(IdPUnavailable),
    ):
        exchange(acme(http, oidc_standin), oidc_standin)


def test_a_wrong_client_secret_is_an_idp_error(http, oidc_standin, caplog):
    with caplog.at_level(logging.ERROR), pytest.raises(IdPError):
        exchange(acme(http, oidc_standin, client_secret="wrong"), oidc_standin)
    assert "code=invalid_client" in caplog.text


def test_a_spent_code_or_a_wrong_verifier_is_a_failed_login(http, oidc_standin):
    idp = acme(http, oidc_standin)
    login = start(oidc_standin)
    idp.exchange_code(login.callback)
    with pytest.raises(LoginFailed):
        idp.exchange_code(login.callback)


def test_jwks_failures_map_onto_the_error_table(http, oidc_standin):
    oidc_standin.fail("jwks", "429", times=2)
    with pytest.raises(IdPUnavailable):
        exchange(acme(http, oidc_standin), oidc_standin)


def test_no_secret_reaches_a_log_line_or_an_error(http, oidc_standin, caplog):
    failing = acme(http, oidc_standin, client_secret="wrong")
    spent = start(oidc_standin)
    acme(http, oidc_standin).exchange_code(spent.callback)
    oidc_standin.fail("token", "500")
    attempts = [
        (acme(http, oidc_standin), start(oidc_standin)),  # 500
        (failing, start(oidc_standin)),  # invalid_client
        (acme(http, oidc_standin), spent),  # invalid_grant quoting the code
    ]
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        for idp, login in attempts:
            with pytest.raises((IdPError, LoginFailed)) as info:
                idp.exchange_code(login.callback)
            for secret in login.secrets:
                assert secret not in repr(info.value)
    for _, login in attempts:
        for secret in login.secrets:
            assert secret not in caplog.text
    assert CLIENT_SECRET not in repr(acme(http, oidc_standin).config)


# -- the JWKS cache ----------------------------------------------------------


def test_an_unknown_kid_refetches_at_most_once_per_interval():
    now, fetched = [100.0], []

    def fetch(deadline: float):
        fetched.append(now[0])
        return {"keys": []}

    cache = JWKSCache(fetch, refetch_interval=60.0, monotonic=lambda: now[0])
    for step in (0.0, 1.0, 59.0, 1.0, 30.0, 30.0):
        now[0] += step
        with pytest.raises(IdPError):
            cache.key("unknown", "RS256", deadline=time.monotonic() + 5)
    assert fetched == [100.0, 100.0, 160.0, 221.0]  # first use, then refetches


# -- identity resolution -----------------------------------------------------


def test_a_direct_login_resolves_to_the_user_holding_that_identity(
    http, oidc_standin, repo, signer, clock
):
    # A WorkOS login stored ("acme", SUBJECT) as Ada's raw identity.
    ada = User("usr_ada", "ada@example.com", "Ada", "acme", SUBJECT, "user_01ADA")
    repo.create(ada, [ACME, Identity.workos("user_01ADA")])
    idp = acme(http, oidc_standin)
    result = ExchangeAuthCode(idp, repo, signer, clock).finish(
        start(oidc_standin).callback
    )
    assert (result.user.user_id, result.created) == ("usr_ada", False)
    assert result.user.record.display_name == "Ada Lovelace"


def test_an_unverified_email_never_overwrites_the_stored_one(
    http, oidc_standin, repo, signer, clock
):
    ada = User("usr_ada", "ada@example.com", "Ada", "acme", SUBJECT)
    repo.create(ada, [ACME])
    idp = acme(http, oidc_standin)
    mint = claims_mint(email="eve@example.com", email_verified=False)
    result = ExchangeAuthCode(idp, repo, signer, clock).finish(
        start(oidc_standin, mint).callback
    )
    assert result.user.email == "ada@example.com"


def test_a_new_direct_user_holds_only_the_direct_identity(
    http, oidc_standin, repo, signer, clock
):
    idp = acme(http, oidc_standin)
    mint = claims_mint(email_verified=False)
    result = ExchangeAuthCode(idp, repo, signer, clock).finish(
        start(oidc_standin, mint).callback
    )
    record = result.user.record
    assert result.created
    assert record.email == ""
    assert (record.oauth_provider, record.oauth_provider_sub) == ("acme", SUBJECT)
    assert record.workos_user_id is None
    assert repo.find_by_identity(ACME).user_id == record.user_id
