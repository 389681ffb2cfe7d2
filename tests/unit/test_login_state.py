"""The signed login cookie and the return_to rule."""

from __future__ import annotations

import base64
import json
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.memory import FixedClock
from wikibot_auth.domain.errors import InvalidCallback, InvalidRequest, NotConfigured
from wikibot_auth.entrypoints.login_state import (
    LoginStateCodec,
    check_return_to,
    derive_login_state_key,
)


@pytest.fixture
def codec(private_key, clock) -> LoginStateCodec:
    return LoginStateCodec(
        derive_login_state_key(KeyRing.of_private_key(private_key)), clock
    )


def test_round_trip(codec):
    state = codec.loads(
        codec.dumps("st", "v" * 43, "/x", provider="google", nonce="n-1")
    )
    assert (state.state, state.verifier, state.return_to) == ("st", "v" * 43, "/x")
    assert (state.provider, state.nonce) == ("google", "n-1")


def test_a_login_without_a_nonce_keeps_none(codec):
    state = codec.loads(codec.dumps("st", "v" * 43, "/", provider="github"))
    assert (state.provider, state.nonce) == ("github", None)


def test_the_nonce_stays_out_of_the_repr(codec):
    state = codec.loads(codec.dumps("st", "v" * 43, "/", provider="g", nonce="n-1"))
    assert "n-1" not in repr(state)
    assert "'g'" in repr(state)


def signed(codec: LoginStateCodec, body: dict[str, object]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=")
    text = payload.decode()
    return f"{text}.{codec._mac(text)}"


def test_a_cookie_made_before_several_providers_is_invalid_callback(codec, clock):
    """Made by the previous release (``{state, verifier, return_to, exp}``):
    which provider issued its code cannot be known, so it is refused rather
    than mapped to whichever provider is configured now."""
    old = {"state": "st", "verifier": "v" * 43, "return_to": "/", "exp": 2 * 10**9}
    with pytest.raises(InvalidCallback, match="names no identity provider"):
        codec.loads(signed(codec, old))
    for provider in (None, "", "Google", "a#b", 7):
        with pytest.raises(InvalidCallback):
            codec.loads(signed(codec, {**old, "provider": provider}))


def test_a_signed_body_that_is_not_an_object_is_invalid_callback(codec):
    with pytest.raises(InvalidCallback, match="malformed"):
        codec.loads(signed(codec, ["st"]))  # type: ignore[arg-type]


def test_another_signing_key_cannot_read_it(codec, other_key, clock):
    other = LoginStateCodec(
        derive_login_state_key(KeyRing.of_private_key(other_key)), clock
    )
    with pytest.raises(InvalidCallback):
        other.loads(codec.dumps("st", "v" * 43, "/", provider="workos"))


def test_it_expires_after_600_seconds(codec, clock):
    value = codec.dumps("st", "v" * 43, "/", provider="workos")
    clock.advance(599)
    codec.loads(value)
    clock.advance(1)
    with pytest.raises(InvalidCallback):
        codec.loads(value)


@pytest.mark.parametrize("value", [None, "", "x", "x.y", "é.é", "a" * 5000])
def test_garbage_is_invalid_callback(codec, value):
    with pytest.raises(InvalidCallback):
        codec.loads(value)


def test_a_verify_only_key_ring_cannot_sign_login_state(private_key):
    with pytest.raises(NotConfigured):
        derive_login_state_key(KeyRing.build(None, [private_key.public_key()]))


@given(st.one_of(st.text(max_size=60), st.text(max_size=60).map(lambda s: "/" + s)))
def test_accepted_return_to_stays_on_the_site(value):
    try:
        path = check_return_to(value)
    except InvalidRequest:
        return
    target = urlsplit(urljoin("https://wiki.example/base/", path))
    assert (target.scheme, target.netloc) == ("https", "wiki.example")


@given(st.sampled_from(["/", "/a", "/a/b?c=d#e"]), st.text(max_size=20))
def test_a_tampered_payload_is_refused(return_to, noise):
    codec = LoginStateCodec(b"k" * 32, FixedClock())
    value = codec.dumps("st", "v" * 43, return_to, provider="workos")
    payload, mac = value.split(".")
    if noise:
        with pytest.raises(InvalidCallback):
            codec.loads(f"{payload}{noise}.{mac}")
