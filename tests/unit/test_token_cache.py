"""The RS256 signer's verified-token cache: correctness, not speed (speed is in
benchmarks/)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.threads import run_together
from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.memory import FixedClock, InMemoryUserRepository
from wikibot_auth.adapters.rs256 import RS256TokenSigner
from wikibot_auth.domain.errors import InvalidToken, TokenExpired
from wikibot_auth.domain.use_cases import Authenticate

NOW = 1_700_000_000.0
POOL = 24


@pytest.fixture
def cache(private_key, clock):
    return RS256TokenSigner(KeyRing.of_private_key(private_key), clock)


@pytest.fixture
def signer(private_key, clock):
    """The same key and clock without a cache: every call verifies."""
    return RS256TokenSigner(KeyRing.of_private_key(private_key), clock, cache_size=0)


@pytest.fixture(scope="module")
def pool(private_key):
    """Tokens minted once for the property and thread tests (RSA signs are slow)."""
    signer = RS256TokenSigner(KeyRing.of_private_key(private_key), FixedClock(NOW))
    return [signer.create_token(f"user-{i}") for i in range(POOL)]


def fresh_cache(private_key, max_entries):
    return RS256TokenSigner(
        KeyRing.of_private_key(private_key), FixedClock(NOW), cache_size=max_entries
    )


def test_a_second_sight_is_answered_from_the_cache(cache, signer):
    token = signer.create_token("u1")
    first = cache.validate_token(token)
    assert first.sub == "u1"
    assert cache.validate_token(token) is first
    assert signer.validate_token(token) is not first
    assert cache.cached_tokens() == 1


def test_failures_are_not_cached(cache, other_key, clock):
    foreign = RS256TokenSigner(KeyRing.of_private_key(other_key), clock).create_token(
        "u1"
    )
    for token in ("abc.def.ghi", foreign):
        with pytest.raises(InvalidToken):
            cache.validate_token(token)
    assert cache.cached_tokens() == 0


def test_an_expired_token_stays_rejected_while_cached(cache, signer, clock):
    token = signer.create_token("u1")
    cache.validate_token(token)
    clock.advance(signer.token_ttl + 31)
    for _ in range(2):
        with pytest.raises(TokenExpired):
            cache.validate_token(token)


def test_a_cached_token_is_valid_until_the_leeway_runs_out(cache, signer, clock):
    token = signer.create_token("u1")
    cache.validate_token(token)
    clock.advance(signer.token_ttl + 29)
    assert cache.validate_token(token).sub == "u1"


def test_a_signer_without_a_cache_verifies_every_time(signer):
    token = signer.create_token("u1")
    assert signer.validate_token(token) is not signer.validate_token(token)
    assert (signer.cache_size, signer.cached_tokens()) == (0, 0)


def test_a_non_string_token_is_invalid(cache):
    with pytest.raises(InvalidToken):
        cache.validate_token(None)  # type: ignore[arg-type]


@given(
    st.lists(
        st.one_of(st.integers(0, POOL - 1), st.text(max_size=20)),
        max_size=80,
    ),
    st.integers(1, 12),
)
def test_the_cache_never_exceeds_its_bound(private_key, pool, stream, bound):
    cache = fresh_cache(private_key, bound)
    for item in stream:
        if isinstance(item, int):
            assert cache.validate_token(pool[item]).sub == f"user-{item}"
        else:
            with pytest.raises(InvalidToken):
                cache.validate_token(item)
        assert cache.cached_tokens() <= bound


def test_sixteen_threads_keep_it_consistent(private_key, pool):
    cache = fresh_cache(private_key, 8)
    errors: list[str] = []

    def work(offset: int) -> None:
        for step in range(150):
            index = (offset * 7 + step) % POOL
            if cache.validate_token(pool[index]).sub != f"user-{index}":
                errors.append(f"wrong claims for token {index}")
            if cache.cached_tokens() > 8:
                errors.append("bound exceeded")

    run_together(16, work)
    assert errors == []
    assert cache.cached_tokens() <= 8


def test_rejections_of_cached_tokens_never_show_the_token(
    cache, signer, clock, other_key, caplog
):
    caplog.set_level("DEBUG", logger="wikibot_auth")
    authenticate = Authenticate(cache, InMemoryUserRepository())
    expired = signer.create_token("u1")
    unkeyed = RS256TokenSigner(KeyRing.of_private_key(other_key), clock).create_token(
        "u2"
    )
    cache.validate_token(expired)
    clock.advance(signer.token_ttl + 31)
    with pytest.raises(TokenExpired) as first:
        authenticate.token(expired)
    clock.set(NOW)
    with pytest.raises(InvalidToken) as second:
        authenticate.token(unkeyed)
    shown = caplog.text + repr(first.value) + repr(second.value)
    assert "token.rejected" in caplog.text
    for token in (expired, unkeyed):
        assert token not in shown
        assert token.split(".")[2][:16] not in shown
