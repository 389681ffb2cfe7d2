"""Complete in-memory adapters: for tests, the development server and property tests.

They are real implementations of their ports (thread-safe, with the same
guarantees as the persistent ones), and record what happened instead of
asserting calls.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from ..domain.errors import (
    AuthError,
    IdPError,
    LoginFailed,
    OperationRefused,
    UnknownUser,
)
from ..domain.linking import recorded_after_unlink
from ..domain.model import (
    AuthorizationRequest,
    Identity,
    IdentityProfile,
    LoginCallback,
    User,
    UserPage,
    UserWithIdentities,
    link_changes,
)
from ..domain.pkce import verifier_matches
from ..domain.ports import Clock


class FixedClock:
    """A ``Clock`` that moves only when told to."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self._now = now
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def set(self, now: float) -> None:
        with self._lock:
            self._now = now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class InMemoryUserRepository:
    """The ``UserRepository`` port in a dict, under one lock.

    Records are kept as plain items, so attributes this library does not know
    survive every update, as they do in the persistent stores. Every write sets
    ``updated_at`` from ``clock`` (default: the system time), in whole seconds.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._time: Callable[[], float] = time.time if clock is None else clock.now
        self._lock = threading.RLock()
        self._users: dict[str, dict[str, Any]] = {}
        # Each item read as a ``User`` once (Users are immutable), until the
        # item is written again: every write goes through ``_store``.
        self._parsed: dict[str, User] = {}
        self._identities: dict[Identity, str] = {}
        self.writes: deque[tuple[str, str]] = deque(maxlen=10_000)

    def get(self, user_id: str) -> User | None:
        with self._lock:
            user = self._parsed.get(user_id)
            if user is None:
                item = self._users.get(user_id)
                if item is None:
                    return None
                user = self._parsed[user_id] = User.from_item(item)
            return user

    def find_by_identity(self, identity: Identity) -> User | None:
        with self._lock:
            user_id = self._identities.get(identity)
            return None if user_id is None else self.get(user_id)

    def create(self, user: User, identities: Sequence[Identity]) -> tuple[User, bool]:
        if not identities:
            raise ValueError("a user is created with at least one identity")
        with self._lock:
            for identity in identities:
                owner = self._identities.get(identity)
                if owner is not None:
                    winner = self.get(owner)
                    assert winner is not None  # noqa: S101 - written together below
                    return winner, False
            for identity in identities:
                self._identities[identity] = user.user_id
            self._store(user.user_id, user.to_item())
            self.writes.append(("create", user.user_id))
            return user, True

    def link_identity(
        self, user_id: str, identity: Identity, *, primary: bool = True
    ) -> User:
        with self._lock:
            owner = self._identities.get(identity)
            if owner is not None and owner != user_id:
                winner = self.get(owner)
                if winner is not None:
                    return winner
            user = self._write(
                "link_identity", user_id, link_changes(identity, primary=primary)
            )
            self._identities[identity] = user_id
            return user

    def update_profile(self, user_id: str, changes: Mapping[str, str]) -> User:
        unknown = set(changes) - {"email", "display_name"}
        if unknown:
            raise ValueError(f"not profile attributes: {sorted(unknown)}")
        with self._lock:
            if not changes:
                return User.from_item(self._item(user_id))
            return self._write("update_profile", user_id, changes)

    def revoke_tokens(self, user_id: str, now: int) -> User:
        with self._lock:
            current = User.from_item(self._item(user_id))
            return self._write(
                "revoke_tokens",
                user_id,
                {
                    "token_generation": current.token_generation + 1,
                    "tokens_valid_after": math.floor(now),
                },
            )

    def set_disabled(self, user_id: str, disabled: bool) -> User:
        with self._lock:
            return self._write("set_disabled", user_id, {"disabled": bool(disabled)})

    def get_with_identities(self, user_id: str) -> UserWithIdentities | None:
        with self._lock:
            user = self.get(user_id)
            if user is None:
                return None
            return UserWithIdentities(user, self._identities_of({user_id})[user_id])

    def scan_users(self, cursor: str | None, limit: int) -> UserPage:
        # Keyset pagination in user_id order, as the SQLite store does.
        if limit < 1:
            raise ValueError("a page holds at least one user")
        with self._lock:
            ids = sorted(i for i in self._users if cursor is None or i > cursor)
            page = ids[:limit]
            identities = self._identities_of(set(page))
            users = [
                UserWithIdentities(User.from_item(self._users[i]), identities[i])
                for i in page
            ]
        return UserPage(users, page[-1] if len(ids) > limit else None)

    def unlink_identity(self, user_id: str, identity: Identity) -> User:
        with self._lock:
            user = User.from_item(self._item(user_id))
            if self._identities.get(identity) != user_id:
                raise OperationRefused("the identity does not map to this user")
            remaining = self._identities_of({user_id})[user_id]
            changes = recorded_after_unlink(user, identity, remaining)
            updated = self._write("unlink_identity", user_id, changes)
            del self._identities[identity]
            return updated

    def move_identity(
        self, identity: Identity, from_user_id: str, to_user_id: str
    ) -> User | None:
        with self._lock:
            self._item(to_user_id)
            owner = self._identities.get(identity)
            if owner is None or owner == to_user_id:
                return None if owner is None else self.get(to_user_id)
            if owner != from_user_id:
                return self.get(owner)
            self._identities[identity] = to_user_id
            if from_user_id in self._users:
                self._write("move_identity", from_user_id, {})
            return self._write("move_identity", to_user_id, {})

    def mark_merged(self, user_id: str, into_user_id: str) -> User:
        with self._lock:
            return self._write(
                "mark_merged",
                user_id,
                {"merged_into": into_user_id, "disabled": True},
            )

    def raw_item(self, user_id: str) -> dict[str, Any] | None:
        """The stored item as is (for operators' tooling and tests)."""
        with self._lock:
            item = self._users.get(user_id)
            return None if item is None else dict(item)

    def put_raw_item(self, item: Mapping[str, Any]) -> None:
        """Store an item as is, as an operator editing the table would."""
        with self._lock:
            self._store(str(item["user_id"]), dict(item))

    def user_count(self) -> int:
        with self._lock:
            return len(self._users)

    def _item(self, user_id: str) -> dict[str, Any]:
        item = self._users.get(user_id)
        if item is None:
            raise UnknownUser()
        return item

    def _identities_of(self, user_ids: set[str]) -> dict[str, list[Identity]]:
        found: dict[str, list[Identity]] = {user_id: [] for user_id in user_ids}
        for identity, owner in self._identities.items():
            if owner in found:
                found[owner].append(identity)
        return found

    def _write(self, name: str, user_id: str, changes: Mapping[str, Any]) -> User:
        # Read back before storing: a record that would not (InternalError)
        # is left as it was. A None value removes the attribute.
        item = {
            **self._item(user_id),
            **changes,
            "updated_at": math.floor(self._time()),
        }
        item = {k: v for k, v in item.items() if v is not None}
        user = User.from_item(item)
        self._store(user_id, item, user)
        self.writes.append((name, user_id))
        return user

    def _store(
        self, user_id: str, item: dict[str, Any], user: User | None = None
    ) -> None:
        self._users[user_id] = item
        if user is None:  # read (and checked) at the next get
            self._parsed.pop(user_id, None)
        else:
            self._parsed[user_id] = user


class ScriptedIdentityProvider:
    """An ``IdentityProvider`` driven by a script of codes and their outcomes.

    ``script(code, outcome, code_challenge=...)`` registers a single-use code
    whose exchange yields a profile or raises an ``AuthError``.
    """

    def __init__(self, authorize_url: str = "https://idp.invalid/authorize") -> None:
        self._authorize_url = authorize_url
        self._lock = threading.Lock()
        self._codes: dict[str, tuple[IdentityProfile | AuthError, str | None]] = {}
        self.exchanges = 0
        self.callbacks: list[LoginCallback] = []

    def script(
        self,
        code: str,
        outcome: IdentityProfile | AuthError,
        *,
        code_challenge: str | None = None,
    ) -> None:
        with self._lock:
            self._codes[code] = (outcome, code_challenge)

    def authorization_url(self, request: AuthorizationRequest) -> str:
        params = {
            "response_type": "code",
            "state": request.state,
            "code_challenge": request.code_challenge,
            "code_challenge_method": "S256",
            "redirect_uri": request.redirect_uri,
            "nonce": request.nonce,
            "login_hint": request.login_hint,
            "screen_hint": request.screen_hint,
        }
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return f"{self._authorize_url}?{query}"

    def exchange_code(self, callback: LoginCallback) -> IdentityProfile:
        with self._lock:
            self.exchanges += 1
            self.callbacks.append(callback)
            entry = self._codes.pop(callback.code, None)
        if entry is None:
            raise LoginFailed("unknown or already used authorization code")
        outcome, challenge = entry
        if challenge is not None and not verifier_matches(
            callback.code_verifier, challenge
        ):
            raise LoginFailed("the PKCE verifier does not match")
        if isinstance(outcome, AuthError):
            raise outcome
        return outcome


class ScriptedIdentityDirectory:
    """An ``IdentityDirectory`` of scripted accounts: ``accounts`` maps an
    account id to the raw identity it holds (or None); ``fail(account_id,
    error, times)`` makes the next lookups of it raise ``error``. Unknown
    accounts are ``IdPError`` (WorkOS answers 404). ``asked`` records every
    lookup."""

    def __init__(self, accounts: Mapping[str, Identity | None] | None = None) -> None:
        self._lock = threading.Lock()
        self.accounts: dict[str, Identity | None] = dict(accounts or {})
        self._failures: dict[str, deque[AuthError]] = {}
        self.asked: list[str] = []

    def fail(self, account_id: str, error: AuthError, times: int = 1) -> None:
        with self._lock:
            self._failures.setdefault(account_id, deque()).extend([error] * times)

    def get_provider_sub(self, user_id: str) -> Identity | None:
        with self._lock:
            self.asked.append(user_id)
            failures = self._failures.get(user_id)
            if failures:
                raise failures.popleft()
            if user_id not in self.accounts:
                raise IdPError("no such account")
            return self.accounts[user_id]
