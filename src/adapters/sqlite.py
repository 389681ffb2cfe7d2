"""The ``UserRepository`` port on an SQLite file (standard library ``sqlite3``).

The embedded default store. Schema (``PRAGMA user_version`` = 1), created on
first use inside a write transaction so that racing processes create it once:

- ``users``: one column per attribute the library knows, plus ``extra``, a JSON
  object holding every attribute it does not know (an operator's additions
  survive: updates touch named columns only).
- ``identities``: ``(provider, subject)`` PRIMARY KEY -> ``user_id``; the
  primary key is what makes one identity map to one user.

Concurrency: one connection per thread (``threading.local``; sqlite3
connections must not be shared between threads mid-transaction), closed when
its thread ends (a ``weakref.finalize`` on the thread's holder) or by
``close()``, so short-lived threads leave no open files behind; WAL journal
(readers never block the writer), a busy timeout, and every write in a
``BEGIN IMMEDIATE`` transaction, which takes the database's write lock up
front: two writers in different threads or processes are serialized by SQLite
itself, and a check-then-insert inside one transaction cannot interleave. The
UNIQUE constraints remain as a backstop. Unlike DynamoDB, creating a user and
its identities is one transaction, so there is no crash window to recover.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..domain.errors import InternalError, StoreUnavailable, UnknownUser
from ..domain.model import Identity, User, link_changes, seconds_or_zero

SCHEMA_VERSION = 1
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
BUSY_TIMEOUT_S = 10.0

# A forked child's copies of its parent's connections. SQLite advises against
# closing (or using) a connection inherited across fork(): the child keeps them
# referenced here, so garbage collection never closes them either.
_INHERITED: list[sqlite3.Connection] = []

# The columns of schema version 1 (one per attribute ``User`` knows).
_COLUMNS = (
    "user_id",
    "email",
    "display_name",
    "oauth_provider",
    "oauth_provider_sub",
    "workos_user_id",
    "tier",
    "disabled",
    "created_at",
    "updated_at",
    "tokens_valid_after",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    oauth_provider TEXT NOT NULL DEFAULT '',
    oauth_provider_sub TEXT NOT NULL DEFAULT '',
    workos_user_id TEXT,
    tier TEXT,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL DEFAULT 0,
    tokens_valid_after INTEGER NOT NULL DEFAULT 0,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS identities (
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (user_id),
    PRIMARY KEY (provider, subject)
);
CREATE INDEX IF NOT EXISTS identities_by_user ON identities (user_id);
"""


class SQLiteUserRepository:
    """``UserRepository`` on an SQLite file (see the module docstring)."""

    def __init__(self, path: str | Path, *, busy_timeout: float = BUSY_TIMEOUT_S):
        if not str(path):
            raise ValueError("an SQLite file path is required")
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        # One finalizer per open connection (closing it), by holder number.
        self._finalizers: dict[int, weakref.finalize[Any, Any]] = {}
        self._numbers = itertools.count()
        # Bumped by close(): a thread whose connection is older closes it itself
        # at its next use (closing a connection another thread may be using
        # would crash the process).
        self._generation = 0
        self._schema_ready = False
        self._pid = os.getpid()

    # -- the port

    def get(self, user_id: str) -> User | None:
        item = self.raw_item(user_id)
        return None if item is None else User.from_item(item)

    def get_cached(self, user_id: str) -> User | None:
        return None

    def find_by_identity(self, identity: Identity) -> User | None:
        with self._reading() as db:
            row = db.execute(
                "SELECT u.* FROM identities i JOIN users u USING (user_id) "
                "WHERE i.provider = ? AND i.subject = ?",
                (identity.provider, identity.subject),
            ).fetchone()
        return None if row is None else User.from_item(_item(row))

    def create(self, user: User, identities: Sequence[Identity]) -> tuple[User, bool]:
        if not identities:
            raise ValueError("a user is created with at least one identity")
        with self._writing() as db:
            for identity in identities:
                owner = _owner(db, identity)
                if owner is not None:
                    winner = _user_row(db, owner)
                    if winner is None:  # pragma: no cover - written together
                        raise StoreUnavailable(f"SQLite store {self.path}: orphan")
                    return User.from_item(_item(winner)), False
            _insert_user(db, user.to_item())
            db.executemany(
                "INSERT INTO identities (provider, subject, user_id) VALUES (?, ?, ?)",
                [(i.provider, i.subject, user.user_id) for i in identities],
            )
        return user, True

    def link_identity(
        self, user_id: str, identity: Identity, *, primary: bool = True
    ) -> User:
        with self._writing() as db:
            if _user_row(db, user_id) is None:
                raise UnknownUser()
            owner = _owner(db, identity)
            if owner is not None and owner != user_id:
                winner = _user_row(db, owner)
                if winner is not None:
                    return User.from_item(_item(winner))
            if owner is None:
                db.execute(
                    "INSERT INTO identities (provider, subject, user_id) "
                    "VALUES (?, ?, ?)",
                    (identity.provider, identity.subject, user_id),
                )
            return _update(db, user_id, link_changes(identity, primary=primary))

    def update_profile(self, user_id: str, changes: Mapping[str, str]) -> User:
        unknown = set(changes) - {"email", "display_name"}
        if unknown:
            raise ValueError(f"not profile attributes: {sorted(unknown)}")
        with self._writing() as db:
            return _update(db, user_id, dict(changes))

    def set_tokens_valid_after(self, user_id: str, value: int) -> User:
        with self._writing() as db:
            row = db.execute(
                "SELECT tokens_valid_after FROM users WHERE user_id = ?", (user_id,)
            ).fetchone()
            if row is None:
                raise UnknownUser()
            # A value that is not a number (an operator's edit) is replaced:
            # comparing it in SQL would never let the sign-out happen.
            stored = seconds_or_zero(row[0])
            if stored < int(value):
                return _update(db, user_id, {"tokens_valid_after": int(value)})
            return _update(db, user_id, {})

    def set_disabled(self, user_id: str, disabled: bool) -> User:
        with self._writing() as db:
            return _update(db, user_id, {"disabled": 1 if disabled else 0})

    # -- operator and test helpers

    def raw_item(self, user_id: str) -> dict[str, Any] | None:
        """The stored record with its unknown attributes (operators and tests)."""
        with self._reading() as db:
            row = _user_row(db, user_id)
        return None if row is None else _item(row)

    def put_raw_item(self, item: Mapping[str, Any]) -> None:
        """Store a record as is: known attributes in columns, the rest in ``extra``."""
        with self._writing() as db:
            db.execute("PRAGMA defer_foreign_keys = ON")
            db.execute("DELETE FROM users WHERE user_id = ?", (str(item["user_id"]),))
            _insert_user(db, item)

    def user_count(self) -> int:
        with self._reading() as db:
            (count,) = db.execute("SELECT count(*) FROM users").fetchone()
        return int(count)

    def identity_count(self) -> int:
        with self._reading() as db:
            (count,) = db.execute("SELECT count(*) FROM identities").fetchone()
        return int(count)

    def close(self) -> None:
        """Close this thread's connection and retire every other thread's: each
        is closed by its own thread at its next use, or when that thread ends.
        (SQLite must not close a connection while another thread uses it.)"""
        with self._lock:
            self._generation += 1
        self._forget_connection()

    def open_connections(self) -> int:
        """How many connections are open (tests: threads must not leak them)."""
        with self._lock:
            return len(self._finalizers)

    # -- internals

    def _after_fork(self) -> None:
        # A forked child (e.g. a server worker) must neither use nor close its
        # parent's connections: keep them referenced (see ``_INHERITED``) and
        # open its own. The lock may have been held by another parent thread.
        self._lock = threading.Lock()
        for finalizer in self._finalizers.values():
            detached = finalizer.detach()
            if detached is not None:
                _INHERITED.append(detached[2][0])
        self._finalizers = {}
        self._local = threading.local()
        self._pid = os.getpid()

    def _connection(self) -> sqlite3.Connection:
        if self._pid != os.getpid():
            self._after_fork()
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is not None:
            if holder.generation == self._generation:
                return holder.db
            self._forget_connection()  # retired by close()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(
                f"SQLite store {self.path}: cannot create its directory "
                f"({type(exc).__name__})"
            ) from exc
        db = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout,
            isolation_level=None,  # we BEGIN and COMMIT ourselves
            check_same_thread=False,  # close() and thread-end cross threads
        )
        try:
            self._prepare(db)
        except BaseException:
            db.close()
            raise
        holder = _Holder(db, self._generation)
        number = next(self._numbers)
        finalizer = weakref.finalize(
            holder, _close_connection, db, self._finalizers, number
        )
        finalizer.atexit = False
        with self._lock:
            self._finalizers[number] = finalizer
        self._local.holder = holder  # dropped, and so closed, when the thread ends
        return db

    def _forget_connection(self) -> None:
        """Close this thread's connection: its state is unknown."""
        holder: _Holder | None = getattr(self._local, "holder", None)
        self._local.holder = None
        del holder  # the finalizer closes the connection

    def _prepare(self, db: sqlite3.Connection) -> None:
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
        # Switching a new file to WAL needs an exclusive lock and SQLite answers
        # SQLITE_BUSY at once (no busy handler) when processes open it together.
        self._retry_busy(lambda: db.execute("PRAGMA journal_mode = WAL"))
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        if not self._schema_ready:
            self._retry_busy(lambda: self._migrate(db))
            self._schema_ready = True

    def _retry_busy(self, step: Callable[[], object]) -> None:
        deadline = time.monotonic() + self._busy_timeout
        delay = 0.005
        while True:
            try:
                step()
                return
            except sqlite3.OperationalError as exc:
                code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # extended codes
                busy = code in _BUSY_CODES
                if not busy or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _migrate(self, db: sqlite3.Connection) -> None:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"SQLite store {self.path} has schema version {version}; this "
                f"wikibot-auth knows up to {SCHEMA_VERSION}"
            )
        db.execute("BEGIN IMMEDIATE")
        try:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if version < 1:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")  # on failure the new connection is closed
            raise

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._connection()
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        except UnicodeEncodeError as exc:
            raise self._unstorable(exc) from exc

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        try:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        try:
            yield db
            db.execute("COMMIT")
        except BaseException as exc:
            try:
                if db.in_transaction:
                    db.execute("ROLLBACK")
            except sqlite3.Error:
                # SQLite rolls back when a connection closes: close this one,
                # and answer for the first failure.
                self._forget_connection()
            if isinstance(exc, sqlite3.Error):
                raise self._translate(exc) from exc
            if isinstance(exc, UnicodeEncodeError):
                raise self._unstorable(exc) from exc
            raise

    def _translate(self, exc: sqlite3.Error) -> StoreUnavailable:
        return StoreUnavailable(
            f"SQLite store {self.path}: {type(exc).__name__} "
            f"({getattr(exc, 'sqlite_errorname', 'error')})"
        )

    def _unstorable(self, exc: UnicodeEncodeError) -> InternalError:
        # Text SQLite cannot hold (a lone surrogate): no retry helps, and the
        # store is not down. The value itself stays out of the message.
        return InternalError(
            f"SQLite store {self.path}: a value is not valid UTF-8 ({exc.reason})"
        )


class _Holder:
    """A thread's connection; when the thread ends its finalizer closes it."""

    __slots__ = ("__weakref__", "db", "generation")

    def __init__(self, db: sqlite3.Connection, generation: int) -> None:
        self.db = db
        self.generation = generation


def _close_connection(
    db: sqlite3.Connection,
    finalizers: dict[int, weakref.finalize[Any, Any]],
    number: int,
) -> None:
    finalizers.pop(number, None)
    try:
        db.close()
    except sqlite3.Error:  # pragma: no cover - closing never fails in practice
        pass


def _owner(db: sqlite3.Connection, identity: Identity) -> str | None:
    row = db.execute(
        "SELECT user_id FROM identities WHERE provider = ? AND subject = ?",
        (identity.provider, identity.subject),
    ).fetchone()
    return None if row is None else str(row[0])


def _user_row(db: sqlite3.Connection, user_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM users WHERE user_id = ?", (user_id,)
    ).fetchone()
    return row


def _item(row: sqlite3.Row) -> dict[str, Any]:
    item: dict[str, Any] = json.loads(row["extra"])
    for column in _COLUMNS:
        value = row[column]
        if value is not None:
            item[column] = value
    item["disabled"] = bool(item.get("disabled", False))
    return item


def _insert_user(db: sqlite3.Connection, item: Mapping[str, Any]) -> None:
    known = {k: item[k] for k in _COLUMNS if item.get(k) is not None}
    if "disabled" in known:
        known["disabled"] = 1 if known["disabled"] else 0
    extra = {k: v for k, v in item.items() if k not in _COLUMNS}
    columns = [*known, "extra"]
    db.execute(
        f"INSERT INTO users ({', '.join(columns)}) "  # noqa: S608 - fixed column names
        f"VALUES ({', '.join('?' for _ in columns)})",
        [*known.values(), json.dumps(extra, ensure_ascii=False)],
    )


def _update(db: sqlite3.Connection, user_id: str, changes: Mapping[str, Any]) -> User:
    if changes:
        assignments = ", ".join(f"{column} = ?" for column in changes)
        bad = set(changes) - set(_COLUMNS)
        if bad:  # pragma: no cover - callers pass fixed names
            raise ValueError(f"unknown columns {sorted(bad)}")
        db.execute(
            f"UPDATE users SET {assignments} WHERE user_id = ?",  # noqa: S608
            [*changes.values(), user_id],
        )
    row = _user_row(db, user_id)
    if row is None:
        raise UnknownUser()
    return User.from_item(_item(row))
