"""Per-thread connections to one SQLite file: created private, closed safely."""

from __future__ import annotations

import itertools
import logging
import os
import sqlite3
import stat
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger("wikibot_auth")

_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

# Each connection's page cache, KiB (SQLite's default: 2,000). A server holds
# one connection per worker thread (6 under `serve` on 2 cores, up to 32), each
# caching its own copy of whatever pages it read: with users spread over the
# whole file that is memory growing for minutes, 2 MiB a thread, for a hit rate
# of a few percent. The B-trees' inner pages fit in 512 KiB; a leaf comes from
# the OS page cache. Measured on 100,000 users: a random user's read 10.0 us
# with either size, the soak's growth after its warm-up 6.0 -> 3.3 MiB.
PAGE_CACHE_KIB = 512

# A forked child's copies of its parent's connections. SQLite advises against
# closing (or using) a connection inherited across fork(): the child keeps them
# referenced here, so garbage collection never closes them either.
_INHERITED: list[sqlite3.Connection] = []


def retry_busy(step: Callable[[], object], timeout: float) -> None:
    """Run ``step`` again while SQLite answers busy or locked, for ``timeout``
    seconds at most (some steps get no busy handler from SQLite itself)."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # extended codes
            if code not in _BUSY_CODES or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


class SQLiteConnections:
    """One connection per thread to ``path`` (sqlite3 connections must not be
    shared between threads mid-transaction), each in WAL mode with a busy
    timeout, autocommit (callers ``BEGIN`` and ``COMMIT`` themselves) and
    foreign keys on. ``on_open`` runs on each new connection (a schema check).
    A file it creates is 0600, and so are its -wal and -shm; a directory it
    creates is 0700 (DESIGN "Configuration", Files).

    A connection is closed when its thread ends (a ``weakref.finalize`` on the
    thread's holder), so short-lived threads leave no open files behind, or by
    its own thread after ``close()`` retired it: closing a connection another
    thread may be using would crash the process. A forked child never uses nor
    closes its parent's connections (see ``_INHERITED``); it opens its own.

    Raises ``sqlite3.Error`` and ``OSError`` as they come: the caller names
    them in its own terms.
    """

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout: float,
        on_open: Callable[[sqlite3.Connection], None],
    ) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._on_open = on_open
        self._local = threading.local()
        self._lock = threading.Lock()
        # One finalizer per open connection (closing it), by holder number.
        self._finalizers: dict[int, weakref.finalize[Any, Any]] = {}
        self._numbers = itertools.count()
        # Bumped by close(): a thread whose connection is older closes it itself
        # at its next use.
        self._generation = 0
        self._pid = os.getpid()
        self._modes_checked = False

    def get(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        if self._pid != os.getpid():
            self._after_fork()
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is not None:
            if holder.generation == self._generation:
                return holder.db
            self.discard()  # retired by close()
        db = self._open()
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

    def discard(self) -> None:
        """Close this thread's connection (its state is unknown)."""
        holder: _Holder | None = getattr(self._local, "holder", None)
        self._local.holder = None
        del holder  # the finalizer closes the connection

    def close(self) -> None:
        """Close this thread's connection and retire every other thread's: each
        is closed by its own thread at its next use, or when that thread ends."""
        with self._lock:
            self._generation += 1
        self.discard()

    def open_connections(self) -> int:
        """How many connections are open."""
        with self._lock:
            return len(self._finalizers)

    def _open(self) -> sqlite3.Connection:
        _make_directories(self.path.parent)
        # Created private before SQLite opens it (it would make it 0644 under
        # the usual umask); SQLite gives the -wal and -shm files its mode.
        # An existing file keeps the mode it has.
        os.close(os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        if not self._modes_checked:
            self._modes_checked = True
            _warn_if_readable_by_others(self.path)
        db = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,  # the caller BEGINs and COMMITs
            check_same_thread=False,  # close() and thread-end cross threads
        )
        try:
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            # Switching a new file to WAL needs an exclusive lock and SQLite
            # answers SQLITE_BUSY at once (no busy handler) when processes open
            # it together.
            retry_busy(
                lambda: db.execute("PRAGMA journal_mode = WAL"), self.busy_timeout
            )
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
            db.execute("PRAGMA foreign_keys = ON")
            self._on_open(db)
        except BaseException:
            db.close()
            raise
        return db

    def _after_fork(self) -> None:
        # Keep the parent's connections referenced and forget them. The lock
        # may have been held by another parent thread.
        self._lock = threading.Lock()
        for finalizer in self._finalizers.values():
            detached = finalizer.detach()
            if detached is not None:
                _INHERITED.append(detached[2][0])
        self._finalizers = {}
        self._local = threading.local()
        self._pid = os.getpid()


def _make_directories(directory: Path) -> None:
    # Each missing one 0700: Path.mkdir(parents=True) gives parents the
    # default mode.
    missing: list[Path] = []
    while not directory.exists() and directory.parent != directory:
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            pass  # another thread or process made it meanwhile


class _Holder:
    """A thread's connection; when the thread ends its finalizer closes it."""

    __slots__ = ("__weakref__", "db", "generation")

    def __init__(self, db: sqlite3.Connection, generation: int) -> None:
        self.db = db
        self.generation = generation


def _warn_if_readable_by_others(path: Path) -> None:
    # An existing database (one made before files were created private, or by
    # hand) keeps its mode: say so, it holds emails, names and subjects.
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning(
            "the user database %s is readable by others (mode %04o): chmod 600 it",
            path,
            mode,
        )


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
