"""Our PyJWS subclass decodes base64url segments as strictly as PyJWT itself,
only faster (binascii instead of a per-byte Python loop)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from jwt.api_jws import PyJWS
from jwt.exceptions import DecodeError

from wikibot_auth.adapters.rs256 import _KeyRingJWS
from wikibot_auth.domain.errors import InvalidToken

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
segments = st.one_of(
    st.binary(max_size=40),
    st.lists(st.sampled_from(list(ALPHABET + b"=+/!. \n\x00\xff")), max_size=40).map(
        bytes
    ),
    st.lists(st.sampled_from(list(ALPHABET)), max_size=40).map(bytes),
)


def outcome(decode, segment: bytes) -> bytes | str:
    try:
        return decode(segment, "payload")
    except DecodeError:
        return "DecodeError"


@given(segments)
@example(b"ab+c")
@example(b"ab/c")
@example(b"ab=c")
@example(b"abc=")
@example(b"ab==")
@example(b"a===")
@example(b"abcd\n")
@example(b"abd")  # non-canonical: unused bits set
def test_segments_decode_exactly_as_pyjwt_decodes_them(segment):
    assert outcome(_KeyRingJWS._decode_base64url_segment, segment) == outcome(
        PyJWS._decode_base64url_segment, segment
    )


@pytest.mark.parametrize("junk", ["!", "+", "/", "=", " ", "\n", "é"])
@pytest.mark.parametrize("part", [0, 1, 2])
def test_junk_in_any_segment_is_an_invalid_token(signer, part, junk):
    parts = signer.create_token("u1").split(".")
    parts[part] = parts[part][:8] + junk + parts[part][8:]
    with pytest.raises(InvalidToken):
        signer.validate_token(".".join(parts))


def test_a_padded_signature_is_rejected_though_pyjwt_accepts_it(signer):
    import jwt

    token = signer.create_token("u1")
    padding = "=" * (-len(token.rpartition(".")[2]) % 4)
    assert padding  # RSA-2048: 256 bytes, 342 characters, 2 of padding
    key = signer.key_ring.signer.public_key
    decoded = jwt.decode(
        token + padding,
        key,
        algorithms=["RS256"],
        audience="wikibot.io",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert decoded["sub"] == "u1"  # a second spelling of one token...
    with pytest.raises(InvalidToken):  # ...which must not dodge a cache keyed on it
        signer.validate_token(token + padding)
