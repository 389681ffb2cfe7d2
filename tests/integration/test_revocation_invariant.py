"""DESIGN's revocation invariant as a hypothesis state machine.

A token is rejected if and only if a sign-out committed after the login's last
read of the user. A login is modelled as read-then-mint, so sign-outs and clock
jumps can fall between its two steps; on the memory store and on SQLite.
"""

from __future__ import annotations

import math
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
)

from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.memory import FixedClock, InMemoryUserRepository
from wikibot_auth.adapters.rs256 import RS256TokenSigner
from wikibot_auth.adapters.sqlite import SQLiteUserRepository
from wikibot_auth.domain.errors import TokenRevoked
from wikibot_auth.domain.model import Identity, TokenClaims, User
from wikibot_auth.domain.ports import UserRepository
from wikibot_auth.domain.use_cases import SignOutEverywhere, check_user

USERS = ["usr_a", "usr_b"]
NOW = 1_700_000_000.0


class Revocation(RuleBasedStateMachine):
    """Subclasses say which store."""

    signing_ring: KeyRing  # set by the test (RSA keys are slow to make)
    pending = Bundle("pending")

    def make_store(self) -> UserRepository:
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock(NOW)
        self.store = self.make_store()
        self.signer = RS256TokenSigner(self.signing_ring, self.clock, cache_size=0)
        self.sign_out = SignOutEverywhere(self.store, self.clock)
        self.committed = dict.fromkeys(USERS, 0)  # sign-outs committed per user
        self.signed_out_at = dict.fromkeys(USERS, 0)
        self.tokens: list[tuple[TokenClaims, int]] = []  # (claims, sign-outs seen)
        for user_id in USERS:
            user = User(user_id, f"{user_id}@example.com", user_id, "local", user_id)
            self.store.create(user, [Identity("local", user_id)])

    @rule(target=pending, user_id=st.sampled_from(USERS))
    def login_reads(self, user_id: str) -> tuple[User, int]:
        user = self.store.get(user_id)
        assert user is not None
        return user, self.committed[user_id]

    @rule(read=consumes(pending))
    def login_mints(self, read: tuple[User, int]) -> None:
        user, seen = read
        token = self.signer.create_token(user.user_id, generation=user.token_generation)
        self.tokens.append((self.signer.validate_token(token), seen))

    @rule(user_id=st.sampled_from(USERS))
    def sign_out_everywhere(self, user_id: str) -> None:
        self.sign_out(user_id)
        self.committed[user_id] += 1
        self.signed_out_at[user_id] = math.floor(self.clock.now())

    @rule(seconds=st.integers(-7200, 7200))
    def the_clock_jumps(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @invariant()
    def a_token_is_revoked_iff_a_sign_out_followed_its_read(self) -> None:
        for claims, seen in self.tokens:
            expected = self.committed[claims.sub] > seen
            try:
                check_user(self.store.get(claims.sub), claims)
                revoked = False
            except TokenRevoked:
                revoked = True
            assert revoked == expected, (claims, seen, self.committed)

    @invariant()
    def sign_out_records_when(self) -> None:
        for user_id, count in self.committed.items():
            user = self.store.get(user_id)
            assert user is not None
            assert user.token_generation == count
            assert user.tokens_valid_after == self.signed_out_at[user_id]


class MemoryRevocation(Revocation):
    def make_store(self) -> UserRepository:
        return InMemoryUserRepository()


class SQLiteRevocation(Revocation):
    def make_store(self) -> UserRepository:
        self._dir = TemporaryDirectory()
        return SQLiteUserRepository(Path(self._dir.name) / "users.db")

    def teardown(self) -> None:
        self.store.close()  # type: ignore[attr-defined]
        self._dir.cleanup()


@pytest.mark.parametrize(
    ("machine", "examples"), [(MemoryRevocation, 100), (SQLiteRevocation, 30)]
)
def test_the_revocation_invariant(machine, examples, private_key):
    machine.signing_ring = KeyRing.of_private_key(private_key)
    configured = settings(max_examples=examples, stateful_step_count=25, deadline=None)(
        machine
    )
    configured.TestCase().runTest()
