"""The hostile ID tokens of issue 11, each minted here against the OpenID
stand-in: none is accepted, and each fails with the error table's code."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives import serialization

from tests.integration.oidc_helpers import Mint, acme, exchange, forge, start
from tests.integration.oidc_standin import (
    CLIENT_ID,
    CLIENT_SECRET,
    private_key,
    public_jwk,
    sign,
)
from wikibot_auth.domain.errors import IdPError, LoginFailed


def _public_pem() -> bytes:
    return (
        private_key("rsa-1")
        .public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )


def _now() -> int:
    return int(time.time())


HOSTILE: dict[str, tuple[Mint, type[Exception], str]] = {
    "alg none": (
        lambda s, n: forge({"alg": "none", "kid": "rsa-1"}, s.claims(n), None),
        IdPError,
        "algorithm",
    ),
    "HS256 keyed by the client secret": (
        lambda s, n: forge(
            {"alg": "HS256", "kid": "rsa-1"}, s.claims(n), CLIENT_SECRET.encode()
        ),
        IdPError,
        "algorithm",
    ),
    "HS256 keyed by the public key": (
        lambda s, n: forge(
            {"alg": "HS256", "kid": "rsa-1"}, s.claims(n), _public_pem()
        ),
        IdPError,
        "algorithm",
    ),
    "another key under a known kid": (
        lambda s, n: sign(s.claims(n), "rsa-evil", kid="rsa-1"),
        IdPError,
        "(signature)",
    ),
    "ES256 under the RSA key's kid": (
        lambda s, n: sign(s.claims(n), "ec-evil", "ES256", kid="rsa-1"),
        IdPError,
        "does not publish",
    ),
    "another audience": (
        lambda s, n: sign(s.claims(n, aud="another-client")),
        IdPError,
        "audience",
    ),
    "no audience": (
        lambda s, n: sign(s.claims(n, aud=None)),
        IdPError,
        "required claim",
    ),
    "azp of another client": (
        lambda s, n: sign(s.claims(n, aud=[CLIENT_ID, "other"], azp="other")),
        IdPError,
        "azp",
    ),
    "replayed nonce": (
        lambda s, n: sign(s.claims("an-earlier-login")),
        LoginFailed,
        "nonce",
    ),
    "no nonce": (lambda s, n: sign(s.claims(n, nonce=None)), LoginFailed, "nonce"),
    "expired": (
        lambda s, n: sign(s.claims(n, iat=_now() - 7200, exp=_now() - 3600)),
        IdPError,
        "expired",
    ),
    "issued in the future": (
        lambda s, n: sign(s.claims(n, iat=_now() + 3600, exp=_now() + 7200)),
        IdPError,
        "future",
    ),
    "not valid before later": (
        lambda s, n: sign(s.claims(n, nbf=_now() + 3600)),
        IdPError,
        "future",
    ),
    "another issuer": (
        lambda s, n: sign(s.claims(n, iss="https://accounts.evil.example")),
        IdPError,
        "issuer",
    ),
    "the issuer without its scheme": (
        lambda s, n: sign(s.claims(n, iss=s.issuer.removeprefix("http://"))),
        IdPError,
        "issuer",
    ),
    "no subject": (
        lambda s, n: sign(s.claims(n, sub=None)),
        IdPError,
        "required claim",
    ),
    "no expiry": (lambda s, n: sign(s.claims(n, exp=None)), IdPError, "required claim"),
    "a tampered payload": (
        lambda s, n: _swap_payload(sign(s.claims(n)), sign(s.claims(n, sub="1"))),
        IdPError,
        "(signature)",
    ),
    "not a JWT": (lambda s, n: "not.a.jwt", IdPError, "algorithm"),
}


def _swap_payload(good: str, other: str) -> str:
    header, _, signature = good.split(".")
    return f"{header}.{other.split('.')[1]}.{signature}"


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_a_hostile_id_token_is_refused(http, oidc_standin, case, caplog):
    mint, error, reason = HOSTILE[case]
    login = start(oidc_standin, mint)
    with caplog.at_level("DEBUG"), pytest.raises(error) as info:
        acme(http, oidc_standin).exchange_code(login.callback)
    assert reason in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    for secret in login.secrets:
        assert secret not in str(info.value)
        assert secret not in caplog.text


def test_a_good_token_passes_where_the_hostile_ones_fail(http, oidc_standin):
    profile = exchange(acme(http, oidc_standin), oidc_standin)
    assert profile.alias.subject == "248289761001"


def test_a_token_just_past_expiry_passes_within_the_leeway(http, oidc_standin):
    mint: Mint = lambda s, n: sign(s.claims(n, exp=_now() - 10))  # noqa: E731
    assert exchange(acme(http, oidc_standin, leeway=30), oidc_standin, mint)
    with pytest.raises(IdPError):
        exchange(acme(http, oidc_standin, leeway=5), oidc_standin, mint)


def test_several_audiences_with_our_azp_pass(http, oidc_standin):
    mint: Mint = lambda s, n: sign(  # noqa: E731
        s.claims(n, aud=["other", CLIENT_ID], azp=CLIENT_ID)
    )
    assert exchange(acme(http, oidc_standin), oidc_standin, mint)


@pytest.mark.parametrize(
    ("kid", "alg"), [("rsa-1", "PS256"), ("ec-1", "ES256"), ("ed-1", "EdDSA")]
)
def test_each_asymmetric_algorithm_the_discovery_lists_is_verified(
    http, oidc_standin, kid, alg
):
    oidc_standin.jwks = [public_jwk("rsa-1"), public_jwk("ec-1"), public_jwk("ed-1")]
    mint: Mint = lambda s, n: sign(s.claims(n), kid, alg)  # noqa: E731
    assert exchange(acme(http, oidc_standin), oidc_standin, mint)


def test_an_algorithm_the_discovery_does_not_list_is_refused(http, oidc_standin):
    oidc_standin.discovery["id_token_signing_alg_values_supported"] = ["RS256"]
    oidc_standin.jwks = [public_jwk("rsa-1"), public_jwk("ec-1")]
    mint: Mint = lambda s, n: sign(s.claims(n), "ec-1", "ES256")  # noqa: E731
    with pytest.raises(IdPError):
        exchange(acme(http, oidc_standin), oidc_standin, mint)


def test_a_jwk_pinned_to_another_algorithm_is_not_used(http, oidc_standin):
    oidc_standin.jwks = [public_jwk("rsa-1", alg="RS256")]
    mint: Mint = lambda s, n: sign(s.claims(n), "rsa-1", "PS256")  # noqa: E731
    with pytest.raises(IdPError):
        exchange(acme(http, oidc_standin), oidc_standin, mint)


def test_a_discovery_document_naming_another_issuer_is_refused(http, oidc_standin):
    oidc_standin.discovery["issuer"] = "https://accounts.evil.example"
    idp = acme(http, oidc_standin)
    with pytest.raises(IdPError):
        exchange(idp, oidc_standin)
    assert oidc_standin.calls("token") == []  # the code never left


def test_a_discovery_document_listing_only_symmetric_algorithms_is_refused(
    http, oidc_standin
):
    oidc_standin.discovery["id_token_signing_alg_values_supported"] = ["HS256", "none"]
    with pytest.raises(IdPError):
        exchange(acme(http, oidc_standin), oidc_standin)


def test_a_jwks_that_changes_mid_flight_is_refetched_once(http, oidc_standin):
    idp = acme(http, oidc_standin)
    exchange(idp, oidc_standin)
    oidc_standin.jwks = [public_jwk("rsa-1"), public_jwk("rsa-2")]  # rotation
    rotated: Mint = lambda s, n: sign(s.claims(n), "rsa-2")  # noqa: E731
    assert exchange(idp, oidc_standin, rotated)
    assert len(oidc_standin.calls("jwks")) == 2
    unknown: Mint = lambda s, n: sign(s.claims(n), "rsa-3")  # noqa: E731
    for _ in range(3):  # forged kids within the minute cost no request
        with pytest.raises(IdPError):
            exchange(idp, oidc_standin, unknown)
    assert len(oidc_standin.calls("jwks")) == 2
    assert exchange(idp, oidc_standin, rotated)


def test_a_key_dropped_from_the_jwks_is_refused_after_a_refetch(http, oidc_standin):
    idp = acme(http, oidc_standin, jwks_refetch_interval=0.0)
    exchange(idp, oidc_standin)
    oidc_standin.jwks = [public_jwk("rsa-2")]  # rsa-1 retired
    rotated: Mint = lambda s, n: sign(s.claims(n), "rsa-2")  # noqa: E731
    assert exchange(idp, oidc_standin, rotated)
    with pytest.raises(IdPError):
        exchange(idp, oidc_standin)
