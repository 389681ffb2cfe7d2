"""A short-lived memory of user records in front of a ``UserRepository``.

Enabled by ``WIKIBOT_AUTH_USER_CACHE_TTL`` > 0: a record read from the store is
reused for that many seconds, so a warm request needs no store round trip. The
writes made through this object drop the entry at once, so this process sees
its own sign-outs and disablings on the next request; other processes see them
within the TTL. Absent users are never remembered. ``peek`` (the
``CachedUsers`` port) answers from memory alone, so the async request path
takes no thread hop on a hit.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence

from ..domain.model import Identity, User, UserPage, UserWithIdentities
from ..domain.ports import (
    AnswerMemory,
    CachedUsers,
    Clock,
    RememberedAnswer,
    UserLease,
    UserRepository,
)
from .lru import LRUCache

DEFAULT_MAX_ENTRIES = 10_000


class CachingUserRepository:
    """``UserRepository`` decorator: records reused for ``ttl`` seconds, at
    most ``max_entries`` of them (least recently used dropped first)."""

    def __init__(
        self,
        inner: UserRepository,
        clock: Clock,
        ttl: float,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        if ttl <= 0:
            raise ValueError("the user cache needs a positive TTL")
        self._inner = inner
        self._clock = clock
        self._ttl = ttl
        self._entries: LRUCache[str, tuple[User, float]] = LRUCache(max_entries)
        # Bumped by every write: a read that overlapped a write is not kept,
        # so a record fetched before a revocation cannot land after it.
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def inner(self) -> UserRepository:
        return self._inner

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, user_id: str) -> User | None:
        entry = self._entries.get(user_id)
        if entry is not None and 0 <= self._clock.now() - entry[1] < self._ttl:
            return entry[0]
        return None

    def lease(self, user_id: str) -> UserLease | None:
        entry = self._entries.peek(user_id)
        if entry is None:
            return None
        user, read_at = entry
        # t < end implies t - read_at < ttl, as get() checks it, whichever way
        # read_at + ttl rounds.
        return user, read_at, math.nextafter(read_at + self._ttl, -math.inf), entry

    def holds(self, user_id: str, entry: object) -> bool:
        # Every read kept, and every write, puts or drops a new entry tuple.
        return self._entries.peek(user_id) is entry

    def get(self, user_id: str) -> User | None:
        now = self._clock.now()
        entry = self._entries.get(user_id)
        if entry is not None and 0 <= now - entry[1] < self._ttl:
            return entry[0]
        generation = self._generation
        user = self._inner.get(user_id)
        if user is not None:
            with self._lock:
                if generation == self._generation:
                    self._entries.put(user_id, (user, now))
        return user

    def find_by_identity(self, identity: Identity) -> User | None:
        return self._inner.find_by_identity(identity)

    def create(self, user: User, identities: Sequence[Identity]) -> tuple[User, bool]:
        return self._inner.create(user, identities)

    def link_identity(
        self, user_id: str, identity: Identity, *, primary: bool = True
    ) -> User:
        try:
            return self._inner.link_identity(user_id, identity, primary=primary)
        finally:
            self._forget(user_id)

    def update_profile(self, user_id: str, changes: Mapping[str, str]) -> User:
        try:
            return self._inner.update_profile(user_id, changes)
        finally:
            self._forget(user_id)

    def revoke_tokens(self, user_id: str, now: int) -> User:
        try:
            return self._inner.revoke_tokens(user_id, now)
        finally:
            self._forget(user_id)

    def set_disabled(self, user_id: str, disabled: bool) -> User:
        try:
            return self._inner.set_disabled(user_id, disabled)
        finally:
            self._forget(user_id)

    def get_with_identities(self, user_id: str) -> UserWithIdentities | None:
        return self._inner.get_with_identities(user_id)

    def scan_users(self, cursor: str | None, limit: int) -> UserPage:
        return self._inner.scan_users(cursor, limit)

    def unlink_identity(self, user_id: str, identity: Identity) -> User:
        try:
            return self._inner.unlink_identity(user_id, identity)
        finally:
            self._forget(user_id)

    def move_identity(
        self, identity: Identity, from_user_id: str, to_user_id: str
    ) -> User | None:
        try:
            return self._inner.move_identity(identity, from_user_id, to_user_id)
        finally:
            self._forget(from_user_id, to_user_id)

    def mark_merged(self, user_id: str, into_user_id: str) -> User:
        try:
            return self._inner.mark_merged(user_id, into_user_id)
        finally:
            self._forget(user_id)

    def _forget(self, *user_ids: str) -> None:
        with self._lock:
            self._generation += 1
            for user_id in user_ids:
                self._entries.pop(user_id)


def with_user_cache(store: UserRepository, clock: Clock, ttl: float) -> UserRepository:
    """``store`` itself when ``ttl`` is 0 (read on every request), else the
    store behind a ``CachingUserRepository``."""
    if ttl <= 0:
        return store
    return CachingUserRepository(store, clock, ttl)


def cached_users_of(repository: UserRepository) -> CachedUsers | None:
    """The memory in front of ``repository``, if it has one."""
    return repository if isinstance(repository, CachingUserRepository) else None


def answer_memory_of(
    cached_users: CachedUsers | None, max_entries: int = DEFAULT_MAX_ENTRIES
) -> AnswerMemory | None:
    """A memory of ``authenticate``'s answers when there is a user cache (its
    answers live no longer than the records they were made from)."""
    if cached_users is None:
        return None
    answers: LRUCache[str, RememberedAnswer] = LRUCache(max_entries)
    return answers
