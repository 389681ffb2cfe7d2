"""The RS256 TokenSigner with real keys: the original list, properties, boundaries."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.strategies import user_ids
from wikibot_auth.adapters.key_files import (
    generate_private_key,
    load_private_key,
    load_public_keys,
    private_key_pem,
    thumbprint,
)
from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.memory import FixedClock
from wikibot_auth.adapters.rs256 import RS256TokenSigner
from wikibot_auth.domain.errors import InvalidToken, NotConfigured, TokenExpired

NOW = 1_700_000_000
fixture_settings = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_created_token_validates_with_all_claims(signer, private_key):
    claims = signer.validate_token(signer.create_token("usr_1"))
    assert (claims.sub, claims.iss, claims.aud) == ("usr_1", "wikibot.io", "wikibot.io")
    assert (claims.iat, claims.exp) == (NOW, NOW + 86400)
    assert claims.kid == thumbprint(private_key.public_key())
    assert len(claims.jti) >= 16


def test_each_token_has_its_own_jti(signer):
    a, b = (signer.validate_token(signer.create_token("u")) for _ in range(2))
    assert a.jti != b.jti


def test_header_names_rs256_and_the_rfc7638_kid(signer, private_key):
    import jwt

    header = jwt.get_unverified_header(signer.create_token("u"))
    assert header == {
        "alg": "RS256",
        "kid": thumbprint(private_key.public_key()),
        "typ": "JWT",
    }


def test_kid_is_the_rfc7638_thumbprint():
    # RFC 7638 section 3.1's example key and thumbprint.
    jwk = {
        "kty": "RSA",
        "e": "AQAB",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
            "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Qv"
            "zqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6"
            "WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
    }
    import jwt

    key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk))
    assert thumbprint(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_expired_token_is_rejected(signer, clock):
    token = signer.create_token("u")
    clock.advance(86400 + 30)
    with pytest.raises(TokenExpired):
        signer.validate_token(token)


@pytest.mark.parametrize(
    ("issuer", "audience"), [("evil.example", "wikibot.io"), ("wikibot.io", "other")]
)
def test_token_from_another_issuer_or_audience_is_rejected(
    private_key, clock, issuer, audience
):
    foreign = RS256TokenSigner(
        KeyRing.of_private_key(private_key), clock, issuer=issuer, audience=audience
    )
    ours = RS256TokenSigner(KeyRing.of_private_key(private_key), clock)
    with pytest.raises(InvalidToken):
        ours.validate_token(foreign.create_token("u"))


def test_token_from_another_key_is_rejected(signer, other_key, clock):
    foreign = RS256TokenSigner(KeyRing.of_private_key(other_key), clock)
    with pytest.raises(InvalidToken):
        signer.validate_token(foreign.create_token("u"))


@pytest.mark.parametrize("token", ["", "a", "a.b", "a.b.c", "....", "é.é.é", "\x00"])
def test_malformed_or_empty_token_is_rejected(signer, token):
    with pytest.raises(InvalidToken):
        signer.validate_token(token)


def test_rotated_key_still_verifies_from_the_public_key_ring(
    private_key, other_key, clock
):
    old = RS256TokenSigner(KeyRing.of_private_key(other_key), clock)
    token = old.create_token("u")
    rotated = RS256TokenSigner(
        KeyRing.of_private_key(private_key, [other_key.public_key()]), clock
    )
    assert rotated.validate_token(token).sub == "u"
    assert len(rotated.jwks()["keys"]) == 2


def test_verify_only_ring_cannot_sign(private_key, clock):
    signer = RS256TokenSigner(KeyRing.build(None, [private_key.public_key()]), clock)
    with pytest.raises(NotConfigured):
        signer.create_token("u")


def test_jwks_exports_every_verification_key(signer, private_key):
    (key,) = signer.jwks()["keys"]
    assert key["kid"] == thumbprint(private_key.public_key())
    assert (key["kty"], key["alg"], key["use"], key["e"]) == (
        "RSA",
        "RS256",
        "sig",
        "AQAB",
    )
    assert "d" not in key


def test_pem_with_literal_newlines_loads(private_key):
    pem = private_key_pem(private_key).decode().replace("\n", "\\n")
    loaded = load_private_key(pem)
    assert thumbprint(loaded.public_key()) == thumbprint(private_key.public_key())


def test_keys_below_2048_bits_are_refused():
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(NotConfigured, match="1024 bits"):
        load_private_key(private_key_pem(small))


def test_unreadable_key_error_shows_no_key_material(private_key):
    pem = private_key_pem(private_key).decode()
    broken = pem[:200] + "!!!" + pem[203:]
    with pytest.raises(NotConfigured) as info:
        load_private_key(broken)
    assert pem[40:80] not in str(info.value)


def test_public_keys_load_from_pem_bundle_and_jwks(private_key, other_key, signer):
    from cryptography.hazmat.primitives import serialization

    bundle = b"".join(
        k.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        for k in (private_key, other_key)
    )
    from_pem = load_public_keys(bundle)
    from_jwks = load_public_keys(json.dumps(signer.jwks()))
    assert thumbprint(from_pem[0]) == thumbprint(from_jwks[0])
    assert len(from_pem) == 2


def test_token_ttl_above_the_maximum_is_refused(private_key, clock):
    with pytest.raises(NotConfigured):
        RS256TokenSigner(
            KeyRing.of_private_key(private_key), clock, token_ttl=100, max_token_ttl=50
        )


# -- properties ---------------------------------------------------------------


@fixture_settings
@given(sub=user_ids.filter(str.strip))
def test_create_then_validate_round_trips(signer, sub):
    assert signer.validate_token(signer.create_token(sub)).sub == sub


@pytest.mark.parametrize("sub", ["", " ", "\t", " \n "])
def test_a_blank_subject_is_refused(signer, sub):
    with pytest.raises(ValueError, match="non-blank"):
        signer.create_token(sub)


@fixture_settings
@given(data=st.data())
def test_changing_or_inserting_any_character_is_rejected(signer, data):
    token = signer.create_token("usr_1")
    index = data.draw(st.integers(0, len(token)))
    char = data.draw(st.sampled_from("ABCabc019-_.=+/ \x00é"))
    if data.draw(st.booleans()) and index < len(token):
        if token[index] == char:
            return
        tampered = token[:index] + char + token[index + 1 :]
    else:
        tampered = token[:index] + char + token[index:]
    with pytest.raises(InvalidToken):
        signer.validate_token(tampered)


@fixture_settings
@given(offset=st.integers(-100, 100))
@example(offset=0)
@example(offset=-1)
def test_expiry_boundary_is_exact(private_key, offset):
    clock = FixedClock(NOW)
    signer = RS256TokenSigner(
        KeyRing.of_private_key(private_key), clock, token_ttl=100, leeway=30
    )
    token = signer.create_token("u")  # exp = NOW + 100
    clock.set(NOW + 100 + 30 + offset)  # rejected when exp <= now - leeway
    if offset >= 0:
        with pytest.raises(TokenExpired):
            signer.validate_token(token)
    else:
        assert signer.validate_token(token).sub == "u"


@fixture_settings
@given(offset=st.integers(-100, 100))
@example(offset=0)
@example(offset=1)
def test_future_iat_boundary_is_exact(private_key, offset):
    ring = KeyRing.of_private_key(private_key)
    signer = RS256TokenSigner(ring, FixedClock(NOW), leeway=30)
    ahead = RS256TokenSigner(ring, FixedClock(NOW + 30 + offset), leeway=30)
    token = ahead.create_token("u")
    if offset > 0:  # iat > now + leeway
        with pytest.raises(InvalidToken):
            signer.validate_token(token)
    else:
        assert signer.validate_token(token).sub == "u"


@settings(max_examples=10, deadline=None)
@given(
    issuer=st.text(min_size=1, max_size=20), audience=st.text(min_size=1, max_size=20)
)
def test_any_other_issuer_or_audience_is_rejected(issuer, audience):
    key = _KEY
    clock = FixedClock(NOW)
    ours = RS256TokenSigner(KeyRing.of_private_key(key), clock)
    if (issuer, audience) == ("wikibot.io", "wikibot.io"):
        return
    foreign = RS256TokenSigner(
        KeyRing.of_private_key(key), clock, issuer=issuer, audience=audience
    )
    with pytest.raises(InvalidToken):
        ours.validate_token(foreign.create_token("u"))


_KEY = generate_private_key()
