"""The claims a minted token carries are the bytes PyJWT's own ``jwt.encode``
writes (``json.dumps(claims, separators=(",", ":"))``): the signer writes
them from a template, for speed."""

from __future__ import annotations

import json
import math

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.memory import FixedClock
from wikibot_auth.adapters.rs256 import RS256TokenSigner

# Every code point, lone surrogates and control characters included.
ANY_TEXT = st.text(st.characters(codec=None, categories=None), min_size=1)


def claims_of(token: str) -> bytes:
    return jwt.utils.base64url_decode(token.split(".")[1])


@given(
    subject=ANY_TEXT.filter(str.strip),
    jti=st.text(st.characters(codec=None, categories=None)),
    issuer=ANY_TEXT,
    audience=ANY_TEXT,
    now=st.floats(0, 2.0**40, allow_nan=False),
    ttl=st.integers(1, 31_536_000),
    generation=st.integers(0, 2**53 - 1),
)
def test_minted_claims_are_what_json_dumps_writes(
    private_key, subject, jti, issuer, audience, now, ttl, generation
):
    signer = RS256TokenSigner(
        KeyRing.of_private_key(private_key),
        FixedClock(now),
        issuer=issuer,
        audience=audience,
        token_ttl=ttl,
        max_token_ttl=ttl,
        cache_size=0,
        new_jti=lambda: jti,
    )
    token = signer.create_token(subject, generation=generation)
    issued_at = math.floor(now)
    expected = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": issued_at,
        "exp": issued_at + ttl,
        "jti": jti,
        "gen": generation,
    }
    assert claims_of(token) == json.dumps(expected, separators=(",", ":")).encode()
    assert json.loads(claims_of(token)) == expected


@pytest.mark.parametrize("ttl", [3600.0, True, "3600"])
def test_a_token_lifetime_that_is_not_an_int_is_refused(private_key, clock, ttl):
    with pytest.raises(TypeError):
        RS256TokenSigner(KeyRing.of_private_key(private_key), clock, token_ttl=ttl)
