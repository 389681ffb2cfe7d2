"""Remembered answers never differ from what the token cache and the user cache
answer at the same instant: a hypothesis state machine of logins, requests,
writes made through the user cache and elsewhere, a clock that jumps and a
signer replaced with the memory kept."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from tempfile import TemporaryDirectory

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, rule

from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.memory import FixedClock, InMemoryUserRepository
from wikibot_auth.adapters.rs256 import RS256TokenSigner
from wikibot_auth.adapters.sqlite import SQLiteUserRepository
from wikibot_auth.adapters.user_cache import CachingUserRepository, answer_memory_of
from wikibot_auth.domain.errors import AuthError
from wikibot_auth.domain.model import Identity, User
from wikibot_auth.domain.ports import UserRepository
from wikibot_auth.domain.use_cases import (
    Authenticate,
    SetUserDisabled,
    SignOutEverywhere,
)

USERS = ["usr_a", "usr_b"]
NOW = 1_700_000_000.0
TTL = 5.0
# Small steps, back and forth, across the user cache's TTL (5 s) and the
# tokens' lifetimes (3 s or 60 s, leeway 1 s), so that every bound is crossed.
JUMPS = [-2, -0.5, 0.5, 1, 2.5, 5]


def outcome(authenticate: Authenticate, token: str, how: str) -> object:
    try:
        if how == "header":
            user = authenticate(f"Bearer {token}")
        elif how == "token":
            user = authenticate.token(token)
        else:
            user = asyncio.run(authenticate.acall(f"Bearer {token}"))
    except AuthError as exc:
        return exc.code
    return user.public_dict(), user.record


class Requests(RuleBasedStateMachine):
    signing_ring: KeyRing  # set by the test (RSA keys are slow to make)
    other_ring: KeyRing  # without the signing key: the signing key retired
    tokens = Bundle("tokens")

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock(NOW)
        self.store = self.make_store()
        for user_id in USERS:
            user = User(user_id, f"{user_id}@example.com", user_id, "local", user_id)
            self.store.create(user, [Identity("local", user_id)])
        self.minters = {
            ttl: RS256TokenSigner(
                self.signing_ring, self.clock, token_ttl=ttl, max_token_ttl=60, leeway=1
            )
            for ttl in (3, 60)
        }
        self.signer = self.minters[60]
        self.users = CachingUserRepository(self.store, self.clock, TTL)
        self.remembering = Authenticate(
            self.signer,
            self.users,
            self.users,
            answer_memory_of(self.users),
            self.clock,
        )
        self.plain = Authenticate(self.signer, self.users, self.users)

    def make_store(self) -> UserRepository:
        """The store, and ``elsewhere``: what writes to it bypassing the cache."""
        self.elsewhere: UserRepository = InMemoryUserRepository(self.clock)
        return self.elsewhere

    def set_tier(self, user_id: str, tier: str | None) -> None:
        assert isinstance(self.store, InMemoryUserRepository)
        item = self.store.raw_item(user_id)
        assert item is not None
        self.store.put_raw_item({**item, "tier": tier})

    def tier_of(self, user_id: str) -> str:
        assert isinstance(self.store, InMemoryUserRepository)
        item = self.store.raw_item(user_id)
        assert item is not None
        return str(item.get("tier", "free"))

    @rule(target=tokens, user_id=st.sampled_from(USERS), ttl=st.sampled_from([3, 60]))
    def login(self, user_id: str, ttl: int) -> str:
        user = self.users.get(user_id)
        assert user is not None
        return self.minters[ttl].create_token(user_id, generation=user.token_generation)

    @rule(token=tokens, how=st.sampled_from(["header", "token", "async"]))
    def a_request(self, token: str, how: str) -> None:
        remembered = outcome(self.remembering, token, how)
        assert remembered == outcome(self.plain, token, how)

    @rule(user_id=st.sampled_from(USERS), through_the_cache=st.booleans())
    def sign_out(self, user_id: str, through_the_cache: bool) -> None:
        users = self.users if through_the_cache else self.elsewhere
        SignOutEverywhere(users, self.clock)(user_id)

    @rule(
        user_id=st.sampled_from(USERS),
        disabled=st.booleans(),
        through_the_cache=st.booleans(),
    )
    def set_disabled(
        self, user_id: str, disabled: bool, through_the_cache: bool
    ) -> None:
        users = self.users if through_the_cache else self.elsewhere
        SetUserDisabled(users, self.clock)(user_id, disabled)

    @rule(
        user_id=st.sampled_from(USERS),
        email=st.sampled_from(["x@example.com", "y@example.com"]),
        through_the_cache=st.booleans(),
    )
    def profile_changes(
        self, user_id: str, email: str, through_the_cache: bool
    ) -> None:
        users = self.users if through_the_cache else self.elsewhere
        users.update_profile(user_id, {"email": email})

    @rule(user_id=st.sampled_from(USERS))
    def an_operator_changes_the_tier(self, user_id: str) -> None:
        self.set_tier(user_id, "pro" if self.tier_of(user_id) == "free" else "free")

    @rule(retired=st.booleans())
    def the_key_ring_is_reloaded(self, retired: bool) -> None:
        # A new signer (the container's token_signer reset or overridden),
        # the memory of answers the same.
        ring = self.other_ring if retired else self.signing_ring
        signer = RS256TokenSigner(
            ring, self.clock, token_ttl=60, max_token_ttl=60, leeway=1
        )
        self.remembering = attrs.evolve(self.remembering, token_signer=signer)
        self.plain = attrs.evolve(self.plain, token_signer=signer)

    @rule(seconds=st.sampled_from(JUMPS))
    def the_clock_jumps(self, seconds: float) -> None:
        self.clock.advance(seconds)


class MemoryRequests(Requests):
    """On the in-memory store (settings are applied to one class each)."""


class SQLiteRequests(Requests):
    """On SQLite, whose every read makes a new record (the in-memory store
    hands back the one it keeps); "elsewhere" is another connection, as
    another process would write."""

    def make_store(self) -> UserRepository:
        self._dir = TemporaryDirectory()
        path = Path(self._dir.name) / "users.db"
        self.elsewhere = SQLiteUserRepository(path, clock=self.clock)
        return SQLiteUserRepository(path, clock=self.clock)

    def set_tier(self, user_id: str, tier: str | None) -> None:
        with sqlite3.connect(Path(self._dir.name) / "users.db") as db:
            db.execute("UPDATE users SET tier = ? WHERE user_id = ?", (tier, user_id))
        db.close()

    def tier_of(self, user_id: str) -> str:
        user = self.elsewhere.get(user_id)
        assert user is not None
        return user.tier

    def teardown(self) -> None:
        self.store.close()  # type: ignore[attr-defined]
        self.elsewhere.close()  # type: ignore[attr-defined]
        self._dir.cleanup()


@pytest.mark.parametrize(
    ("machine", "examples"), [(MemoryRequests, 300), (SQLiteRequests, 60)]
)
def test_remembered_answers_are_the_caches_answers(
    private_key, other_key, machine, examples
):
    machine.signing_ring = KeyRing.of_private_key(private_key)
    machine.other_ring = KeyRing.of_private_key(other_key)
    configured = settings(max_examples=examples, stateful_step_count=30, deadline=None)(
        machine
    )
    configured.TestCase().runTest()
