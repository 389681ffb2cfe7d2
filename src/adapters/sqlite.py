"""The ``UserRepository`` port on an SQLite file (standard library ``sqlite3``)."""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..domain.errors import (
    InternalError,
    OperationRefused,
    StoreUnavailable,
    UnknownUser,
)
from ..domain.linking import recorded_after_unlink
from ..domain.model import Identity, User, UserPage, UserWithIdentities, link_changes
from ..domain.ports import Clock
from .sqlite_connections import SQLiteConnections, retry_busy
from .sqlite_rows import item_from_row, user_from_row
from .sqlite_schema import COLUMNS, MIGRATIONS, SCHEMA_VERSION, migrate

__all__ = ["COLUMNS", "MIGRATIONS", "SCHEMA_VERSION", "SQLiteUserRepository"]

BUSY_TIMEOUT_S = 10.0
# Identities are read for a page's users in chunks of this many (SQLite's
# host-parameter limit is 32766 since 3.32; older builds allow 999).
_IN_CHUNK = 500

_COLUMNS = COLUMNS[SCHEMA_VERSION]
# Every request's read (user cache off): the columns in ``User``'s field order.
_SELECT_USER = f"SELECT {', '.join(_COLUMNS)}, extra FROM users WHERE user_id = ?"  # noqa: S608


class SQLiteUserRepository:
    """``UserRepository`` on an SQLite file: the embedded default store.

    Schema (``PRAGMA user_version`` = ``SCHEMA_VERSION``), created or migrated
    on first use inside a write transaction, so that racing processes do it
    once; a file of a newer version is refused:

    - ``users``: one column per attribute the library knows, plus ``extra``, a
      JSON object holding every attribute it does not know (an operator's
      additions survive: updates touch named columns only).
    - ``identities``: ``(provider, subject)`` PRIMARY KEY -> ``user_id``; the
      primary key is what makes one identity map to one user.

    Concurrency: one connection per thread (``SQLiteConnections``), WAL journal
    (readers never block the writer), a busy timeout, and every write in a
    ``BEGIN IMMEDIATE`` transaction, which takes the database's write lock up
    front: two writers in different threads or processes are serialized by
    SQLite itself, and a check-then-insert inside one transaction cannot
    interleave. The UNIQUE constraints remain as a backstop. Unlike DynamoDB,
    creating a user and its identities is one transaction, so there is no
    crash window to recover. A sign-out is ``SET token_generation =
    token_generation + 1`` in that transaction; every write sets
    ``updated_at`` from ``clock`` (default: the system time), in whole seconds.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = BUSY_TIMEOUT_S,
        clock: Clock | None = None,
    ) -> None:
        if not str(path):
            raise ValueError("an SQLite file path is required")
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        self._time: Callable[[], float] = time.time if clock is None else clock.now
        self._schema_ready = False
        self._connections = SQLiteConnections(
            self.path, busy_timeout=busy_timeout, on_open=self._on_open
        )

    # -- the port

    def get(self, user_id: str) -> User | None:
        # ``_reading`` inline (a generator-based context manager costs a
        # microsecond), and the row as a tuple: this read is on every request
        # when the user cache is off.
        db = self._open()
        try:
            cursor = db.cursor()
            cursor.row_factory = None
            row = cursor.execute(_SELECT_USER, (user_id,)).fetchone()
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        except UnicodeEncodeError as exc:
            raise self._unstorable(exc) from exc
        return None if row is None else user_from_row(row, _COLUMNS)

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
            _read(db, user_id)
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
            return self._update(db, user_id, link_changes(identity, primary=primary))

    def update_profile(self, user_id: str, changes: Mapping[str, str]) -> User:
        unknown = set(changes) - {"email", "display_name"}
        if unknown:
            raise ValueError(f"not profile attributes: {sorted(unknown)}")
        with self._writing() as db:
            if not changes:
                return _read(db, user_id)
            return self._update(db, user_id, changes)

    def revoke_tokens(self, user_id: str, now: int) -> User:
        with self._writing() as db:
            # Refuse an unreadable record before writing: SQL would count a
            # token_generation that is not a number as 0.
            _read(db, user_id)
            db.execute(
                "UPDATE users SET token_generation = token_generation + 1, "
                "tokens_valid_after = ?, updated_at = ? WHERE user_id = ?",
                (math.floor(now), self._now(), user_id),
            )
            return _read(db, user_id)

    def set_disabled(self, user_id: str, disabled: bool) -> User:
        with self._writing() as db:
            return self._update(db, user_id, {"disabled": 1 if disabled else 0})

    def get_with_identities(self, user_id: str) -> UserWithIdentities | None:
        with self._reading(snapshot=True) as db:
            row = _user_row(db, user_id)
            if row is None:
                return None
            identities = _identities_of(db, [user_id])[user_id]
        return UserWithIdentities(User.from_item(_item(row)), identities)

    def scan_users(self, cursor: str | None, limit: int) -> UserPage:
        # Keyset pagination on the primary key: each page is one indexed range
        # read, in one read transaction (WAL: a snapshot; writers go on).
        if limit < 1:
            raise ValueError("a page holds at least one user")
        if cursor is not None and not cursor:
            raise ValueError("not a cursor of this store")
        with self._reading(snapshot=True) as db:
            rows = db.execute(
                "SELECT * FROM users WHERE user_id > ? ORDER BY user_id LIMIT ?",
                (cursor or "", limit + 1),
            ).fetchall()
            page = rows[:limit]
            identities = _identities_of(db, [row["user_id"] for row in page])
        users = [
            UserWithIdentities(User.from_item(_item(row)), identities[row["user_id"]])
            for row in page
        ]
        return UserPage(users, page[-1]["user_id"] if len(rows) > limit else None)

    def unlink_identity(self, user_id: str, identity: Identity) -> User:
        with self._writing() as db:
            user = _read(db, user_id)
            if _owner(db, identity) != user_id:
                raise OperationRefused("the identity does not map to this user")
            db.execute(
                "DELETE FROM identities WHERE provider = ? AND subject = ?",
                (identity.provider, identity.subject),
            )
            remaining = _identities_of(db, [user_id])[user_id]
            changes = recorded_after_unlink(user, identity, remaining)
            return self._update(db, user_id, changes)

    def move_identity(
        self, identity: Identity, from_user_id: str, to_user_id: str
    ) -> User | None:
        with self._writing() as db:
            _read(db, to_user_id)
            owner = _owner(db, identity)
            if owner is None or owner != from_user_id:
                row = None if owner is None else _user_row(db, owner)
                return None if row is None else User.from_item(_item(row))
            db.execute(
                "UPDATE identities SET user_id = ? WHERE provider = ? AND subject = ?",
                (to_user_id, identity.provider, identity.subject),
            )
            self._update(db, from_user_id, {})
            return self._update(db, to_user_id, {})

    def mark_merged(self, user_id: str, into_user_id: str) -> User:
        with self._writing() as db:
            return self._update(
                db, user_id, {"merged_into": into_user_id, "disabled": 1}
            )

    # -- the connections

    def close(self) -> None:
        """Close this thread's connection and retire every other thread's: each
        is closed by its own thread at its next use, or when that thread ends.
        (SQLite must not close a connection while another thread uses it.)"""
        self._connections.close()

    def open_connections(self) -> int:
        """How many connections are open (tests: threads must not leak them)."""
        return self._connections.open_connections()

    # -- internals

    def _connection(self) -> sqlite3.Connection:
        return self._connections.get()

    def _now(self) -> int:
        return math.floor(self._time())

    def _update(
        self, db: sqlite3.Connection, user_id: str, changes: Mapping[str, Any]
    ) -> User:
        # A record that does not read back is undone by the rollback.
        changes = {**changes, "updated_at": self._now()}
        bad = set(changes) - set(_COLUMNS)
        if bad:  # pragma: no cover - callers pass fixed names
            raise ValueError(f"unknown columns {sorted(bad)}")
        assignments = ", ".join(f"{column} = ?" for column in changes)
        updated = db.execute(
            f"UPDATE users SET {assignments} WHERE user_id = ?",  # noqa: S608
            [*changes.values(), user_id],
        )
        if updated.rowcount == 0:
            raise UnknownUser()
        return _read(db, user_id)

    def _on_open(self, db: sqlite3.Connection) -> None:
        if not self._schema_ready:
            retry_busy(lambda: migrate(db, self.path), self._busy_timeout)
            self._schema_ready = True

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connection()
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        except OSError as exc:  # its directory cannot be created, say
            raise StoreUnavailable(
                f"SQLite store {self.path}: cannot open the file ({type(exc).__name__})"
            ) from exc

    @contextmanager
    def _reading(self, *, snapshot: bool = False) -> Iterator[sqlite3.Connection]:
        # ``snapshot``: several statements in one read transaction.
        db = self._open()
        try:
            if snapshot:
                db.execute("BEGIN")
            try:
                yield db
            finally:
                if db.in_transaction:
                    db.execute("COMMIT")  # a read transaction: nothing to undo
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        except UnicodeEncodeError as exc:
            raise self._unstorable(exc) from exc

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        db = self._open()
        try:
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
                self._connections.discard()
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


def _owner(db: sqlite3.Connection, identity: Identity) -> str | None:
    row = db.execute(
        "SELECT user_id FROM identities WHERE provider = ? AND subject = ?",
        (identity.provider, identity.subject),
    ).fetchone()
    return None if row is None else str(row[0])


def _identities_of(
    db: sqlite3.Connection, user_ids: Sequence[str]
) -> dict[str, list[Identity]]:
    found: dict[str, list[Identity]] = {user_id: [] for user_id in user_ids}
    for start in range(0, len(user_ids), _IN_CHUNK):
        chunk = user_ids[start : start + _IN_CHUNK]
        rows = db.execute(
            "SELECT provider, subject, user_id FROM identities "  # noqa: S608
            f"WHERE user_id IN ({', '.join('?' for _ in chunk)})",
            chunk,
        )
        for provider, subject, owner in rows:
            found[owner].append(Identity(provider, subject))
    return found


def _user_row(db: sqlite3.Connection, user_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM users WHERE user_id = ?", (user_id,)
    ).fetchone()
    return row


def _item(row: sqlite3.Row) -> dict[str, Any]:
    return item_from_row(row["extra"], ((c, row[c]) for c in _COLUMNS))


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


def _read(db: sqlite3.Connection, user_id: str) -> User:
    row = _user_row(db, user_id)
    if row is None:
        raise UnknownUser()
    return User.from_item(_item(row))
