from __future__ import annotations

import asyncio
import threading

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import workos_profile
from tests.strategies import header_values
from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.memory import InMemoryUserRepository
from wikibot_auth.adapters.rs256 import RS256TokenSigner
from wikibot_auth.domain.errors import (
    AuthError,
    InvalidRequest,
    InvalidToken,
    MissingToken,
    TokenExpired,
    TokenRevoked,
    UnknownUser,
    UserDisabled,
)
from wikibot_auth.domain.model import TokenClaims, User
from wikibot_auth.domain.use_cases import Authenticate, check_user


def test_valid_token_authenticates_the_user(login, authenticate):
    result = login(workos_profile())
    user = authenticate(f"Bearer {result.token}")
    assert user.user_id == result.user.user_id
    assert (user.email, user.display_name, user.tier) == (
        "ada@example.com",
        "Ada Lovelace",
        "free",
    )
    assert user.record.oauth_provider == "google"


@pytest.mark.parametrize("header", [None, ""])
def test_missing_or_empty_header_is_missing_token(authenticate, header):
    with pytest.raises(MissingToken):
        authenticate(header)


def test_bad_header_is_invalid_request(authenticate):
    with pytest.raises(InvalidRequest):
        authenticate("Bearer not a token")


def test_invalid_token_is_rejected(authenticate):
    with pytest.raises(InvalidToken):
        authenticate("Bearer abc.def.ghi")


def test_expired_token_is_rejected(login, authenticate, clock):
    result = login(workos_profile())
    clock.advance(86400 + 30)
    with pytest.raises(TokenExpired):
        authenticate(f"Bearer {result.token}")


def test_token_for_unknown_user_is_rejected(signer, authenticate):
    with pytest.raises(UnknownUser):
        authenticate("Bearer " + signer.create_token("usr_nobody"))


def test_token_signed_by_another_key_is_rejected(login, authenticate, other_key, clock):
    result = login(workos_profile())
    foreign = RS256TokenSigner(KeyRing.of_private_key(other_key), clock)
    with pytest.raises(InvalidToken):
        authenticate("Bearer " + foreign.create_token(result.user.user_id))


def test_disabled_user_cannot_authenticate(login, authenticate, repo):
    result = login(workos_profile())
    repo.set_disabled(result.user.user_id, True)
    with pytest.raises(UserDisabled):
        authenticate(f"Bearer {result.token}")


def test_token_issued_before_sign_out_is_revoked(login, authenticate, sign_out):
    result = login(workos_profile())
    sign_out(result.user.user_id)
    with pytest.raises(TokenRevoked):
        authenticate(f"Bearer {result.token}")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=header_values)
def test_any_header_authenticates_or_raises_an_auth_error(authenticate, header):
    try:
        authenticate(header)
    except AuthError:
        return
    pytest.fail("a random header authenticated")


def test_the_async_forms_agree_with_the_sync_ones(login, authenticate, repo):
    result = login(workos_profile())
    header = f"Bearer {result.token}"
    assert asyncio.run(authenticate.acall(header)) == authenticate(header)
    assert asyncio.run(authenticate.atoken(result.token)) == authenticate.token(
        result.token
    )
    repo.set_disabled(result.user.user_id, True)
    with pytest.raises(UserDisabled):
        asyncio.run(authenticate.acall(header))


def test_a_refusal_of_a_valid_token_carries_its_subject(login, authenticate, repo):
    result = login(workos_profile())
    repo.set_disabled(result.user.user_id, True)
    with pytest.raises(UserDisabled) as refused:
        authenticate.token(result.token)
    assert refused.value.subject == result.user.user_id
    with pytest.raises(InvalidToken) as invalid:
        authenticate.token("abc.def.ghi")
    assert invalid.value.subject is None


class Remembered:
    """A ``CachedUsers`` that remembers what it is given."""

    def __init__(self, *users: User) -> None:
        self.users = {u.user_id: u for u in users}

    def peek(self, user_id: str) -> User | None:
        return self.users.get(user_id)


class ThreadRecordingRepository(InMemoryUserRepository):
    def __init__(self) -> None:
        super().__init__()
        self.read_in: list[int] = []

    def get(self, user_id: str) -> User | None:
        self.read_in.append(threading.get_ident())
        return super().get(user_id)


def test_a_cache_hit_reads_no_store_and_a_miss_reads_it_off_the_loop(login, signer):
    result = login(workos_profile())
    store = ThreadRecordingRepository()
    record = result.user.record
    hit = Authenticate(signer, store, Remembered(record))
    assert asyncio.run(hit.atoken(result.token)).user_id == record.user_id
    assert store.read_in == []
    miss = Authenticate(signer, store, Remembered())

    async def on_the_loop() -> int:
        with pytest.raises(UnknownUser):
            await miss.atoken(result.token)
        return threading.get_ident()

    loop_thread = asyncio.run(on_the_loop())
    assert len(store.read_in) == 1
    assert store.read_in[0] != loop_thread


@pytest.mark.parametrize(
    ("gen", "iat", "generation", "valid_after", "revoked"),
    [
        (None, 100, 0, 0, False),  # minted before the counter, never signed out
        (None, 100, 0, 101, True),  # ... signed out under the clock rule
        (None, 100, 1, 0, True),  # ... signed out since the upgrade
        (0, 100, 0, 10**9, False),  # the clock rule is not a gen token's
        (3, 100, 3, 0, False),
        (2, 100, 3, 0, True),
    ],
)
def test_the_revocation_rule(gen, iat, generation, valid_after, revoked):
    user = User("usr_1", "a@example.com", "A", "workos", "user_1")
    user = attrs.evolve(
        user, token_generation=generation, tokens_valid_after=valid_after
    )
    claims = TokenClaims("usr_1", "i", "a", iat, iat + 10, "j", "k", gen=gen)
    if revoked:
        with pytest.raises(TokenRevoked):
            check_user(user, claims)
    else:
        assert check_user(user, claims).user_id == "usr_1"


def test_rejections_are_logged_by_hash_prefix_only(
    login, authenticate, sign_out, caplog
):
    import logging

    result = login(workos_profile())
    sign_out(result.user.user_id)
    with (
        caplog.at_level(logging.DEBUG, logger="wikibot_auth"),
        pytest.raises(TokenRevoked),
    ):
        authenticate(f"Bearer {result.token}")
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "token_revoked" in text
    for part in result.token.split("."):
        assert part not in text
