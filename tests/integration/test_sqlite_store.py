"""The SQLite store's own rules: connections of ended threads and forked
children, private files, and every failure answered as a domain error (never
a raw OSError/sqlite3/Unicode error). The contract suite covers the port;
the schema is in test_sqlite_schema.py."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import make_user as _user
from tests.integration.store_helpers import SQLiteRaw
from wikibot_auth.adapters import sqlite_connections
from wikibot_auth.adapters.sqlite import SQLiteUserRepository
from wikibot_auth.domain.errors import InternalError, StoreUnavailable, UnknownUser
from wikibot_auth.domain.model import Identity, User
from wikibot_auth.entrypoints.containers import create_container

GOOGLE = Identity("google", "g-1")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_short_lived_threads_leave_no_connection_open(tmp_path: Path) -> None:
    repo = SQLiteUserRepository(tmp_path / "users.db")
    repo.create(_user(), [GOOGLE])
    fds = _open_fds()
    errors: list[BaseException] = []

    def use() -> None:
        try:
            assert repo.get("usr_1") is not None
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    for _ in range(200):
        thread = threading.Thread(target=use)
        thread.start()
        thread.join()
    assert errors == []
    assert repo.open_connections() == 1  # this thread's
    assert _open_fds() <= fds + 2  # was +400 (2 per thread: db and WAL)
    repo.close()
    assert repo.open_connections() == 0


def test_each_threads_connection_caches_at_most_512_kib_of_pages(
    tmp_path: Path,
) -> None:
    repo = SQLiteUserRepository(tmp_path / "users.db")
    sizes: list[int] = []

    def cache_size() -> None:
        sizes.append(repo._connection().execute("PRAGMA cache_size").fetchone()[0])

    cache_size()
    thread = threading.Thread(target=cache_size)
    thread.start()
    thread.join()
    assert sizes == [-512, -512]  # KiB; SQLite's default is -2000
    repo.close()


def test_close_retires_live_threads_connections_without_touching_them(
    tmp_path: Path,
) -> None:
    repo = SQLiteUserRepository(tmp_path / "users.db")
    opened, release = threading.Barrier(5), threading.Event()

    def hold() -> None:
        repo.get("usr_1")
        opened.wait()
        release.wait(10)

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for thread in threads:
        thread.start()
    opened.wait()
    assert repo.open_connections() == 4
    repo.close()  # they may be mid-statement: each closes its own later
    assert repo.open_connections() == 4
    release.set()
    for thread in threads:
        thread.join()
    assert repo.open_connections() == 0  # closed as their threads ended
    assert repo.get("usr_1") is None  # a new connection after close()
    repo.close()


def test_a_retired_connection_is_replaced_at_the_next_use(tmp_path: Path) -> None:
    repo = SQLiteUserRepository(tmp_path / "users.db")
    repo.get("usr_1")
    worker_count: list[User | None] = []
    started, retired = threading.Event(), threading.Event()

    def work() -> None:
        repo.get("usr_1")
        started.set()
        retired.wait(10)
        worker_count.append(repo.get("usr_1"))  # a fresh connection, not a crash

    thread = threading.Thread(target=work)
    thread.start()
    started.wait(10)
    repo.close()
    retired.set()
    thread.join()
    assert worker_count == [None]
    repo.close()


CLOSE_WHILE_IN_USE = """
import sys, threading
from wikibot_auth.adapters.memory import FixedClock
from wikibot_auth.adapters.sqlite import SQLiteUserRepository
from wikibot_auth.domain.model import Identity, User

repo = SQLiteUserRepository(sys.argv[1])
stop = threading.Event()

def work(n):
    i = 0
    while not stop.is_set():
        i += 1
        user = User(f"usr_{n}_{i}", "a@b.c", "A", "google", f"{n}-{i}")
        repo.create(user, [Identity("google", f"{n}-{i}")])
        repo.find_by_identity(Identity("google", f"{n}-{i}"))
        repo.revoke_tokens(user.user_id, i)

threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
for t in threads:
    t.start()
for _ in range(300):
    repo.close()
    stop.wait(0.002)
stop.set()
for t in threads:
    t.join()
print("ok")
"""


def test_close_while_other_threads_write_does_not_crash_the_process(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", CLOSE_WHILE_IN_USE, str(tmp_path / "users.db")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, "ok"), proc.stderr[-2000:]


@pytest.mark.parametrize("where", ["under-a-file", "in-proc"])
def test_an_unusable_directory_is_store_unavailable_naming_the_path(
    tmp_path: Path, where: str
) -> None:
    (tmp_path / "afile").write_text("x")
    path = {
        "under-a-file": tmp_path / "afile" / "sub" / "users.db",
        "in-proc": Path("/proc/no-such-dir/users.db"),
    }[where]
    repo = SQLiteUserRepository(path)
    with pytest.raises(StoreUnavailable) as info:
        repo.get("usr_1")
    assert str(path) in info.value.message
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(StoreUnavailable):
        repo.create(_user(), [GOOGLE])


def test_a_directory_as_the_file_is_store_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match=str(tmp_path)):
        SQLiteUserRepository(tmp_path).get("usr_1")


def test_a_lone_surrogate_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    repo = SQLiteUserRepository(tmp_path / "users.db")
    with pytest.raises(InternalError) as info:
        repo.create(_user(display_name="x\ud800"), [GOOGLE])
    assert "\ud800" not in info.value.message
    assert (SQLiteRaw(repo).user_count(), SQLiteRaw(repo).identity_count()) == (0, 0)
    with pytest.raises(InternalError):
        repo.find_by_identity(Identity("google", "\udfff"))
    repo.create(_user(), [GOOGLE])
    with pytest.raises(InternalError):
        repo.update_profile("usr_1", {"email": "\ud800@example.com"})
    assert repo.get("usr_1") == _user()
    repo.close()


class _BrokenConnection:
    """A connection whose identity insert and ROLLBACK both fail (a disk I/O
    error mid-transaction)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "ROLLBACK":
            raise sqlite3.OperationalError("cannot rollback")
        return self.db.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


class _FailingRollbackRepository(SQLiteUserRepository):
    def _connection(self) -> Any:
        return _BrokenConnection(super()._connection())


def test_a_failing_rollback_is_store_unavailable_and_drops_the_connection(
    tmp_path: Path,
) -> None:
    broken = _FailingRollbackRepository(tmp_path / "users.db")
    with pytest.raises(StoreUnavailable, match="OperationalError"):
        broken.create(_user(), [GOOGLE])
    assert broken.open_connections() == 0  # closed: SQLite rolled it back
    with pytest.raises(UnknownUser):  # a domain error survives a failing rollback
        broken.update_profile("usr_ghost", {"email": "x@example.com"})
    broken.close()
    repo = SQLiteUserRepository(tmp_path / "users.db")
    assert (SQLiteRaw(repo).user_count(), SQLiteRaw(repo).identity_count()) == (0, 0)
    repo.close()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")
def test_a_forked_child_keeps_its_parents_connections_referenced(
    tmp_path: Path,
) -> None:
    repo = SQLiteUserRepository(tmp_path / "users.db")
    repo.create(_user("usr_parent"), [Identity("google", "parent")])
    context = multiprocessing.get_context("fork")
    results = context.Queue()

    def child() -> None:
        inherited = len(sqlite_connections._INHERITED)
        created = repo.create(_user("usr_child"), [Identity("google", "child")])
        results.put(
            (
                len(sqlite_connections._INHERITED) - inherited,
                created[1],
                repo.open_connections(),
            )
        )

    process = context.Process(target=child)
    process.start()
    assert results.get(timeout=30) == (1, True, 1)
    process.join(timeout=30)
    assert repo.open_connections() == 1
    assert repo.find_by_identity(Identity("google", "child")).user_id == "usr_child"
    assert SQLiteRaw(repo).user_count() == 2
    repo.close()


# -- the file, its modes and the container


def test_an_unreadable_file_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "users.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreUnavailable, match=r"users\.db"):
        SQLiteUserRepository(path).get("usr_1")


def test_the_container_builds_the_sqlite_store_in_the_data_dir(tmp_path: Path) -> None:
    container = create_container(
        {"WIKIBOT_AUTH_DATA_DIR": str(tmp_path / "data")}, idp="none"
    )
    repo = container.user_repository()
    assert isinstance(repo, SQLiteUserRepository)
    assert repo.path == tmp_path / "data" / "users.db"
    assert repo.get("usr_1") is None
    assert (tmp_path / "data" / "users.db").exists()


def test_a_relative_sqlite_url_stays_relative() -> None:
    container = create_container({"WIKIBOT_AUTH_USER_STORE": "sqlite:///rel/u.db"})
    assert container.config.store_location() == "rel/u.db"
    container = create_container({"WIKIBOT_AUTH_USER_STORE": "sqlite:////abs/u.db"})
    assert container.config.store_location() == "/abs/u.db"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The common umask 022, under which files default to 0644 and
    directories to 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("usual_umask")
def test_the_database_and_its_wal_files_are_private(tmp_path: Path) -> None:
    """DESIGN "Configuration", Files: the SQLite database and its -wal/-shm
    are 0600 (SQLite gives the -wal and -shm the database file's mode)."""
    path = tmp_path / "data" / "users.db"
    repo = SQLiteUserRepository(path)
    repo.create(_user(), [GOOGLE])  # an open connection after a write: WAL files
    files = {p.name: _mode(p) for p in path.parent.iterdir()}
    assert files == {"users.db": 0o600, "users.db-wal": 0o600, "users.db-shm": 0o600}
    repo.close()


@pytest.mark.usefixtures("usual_umask")
def test_every_directory_the_store_creates_is_private(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    SQLiteUserRepository(tmp_path / "data" / "nested" / "users.db").get("usr_1")
    assert _mode(tmp_path / "data") == 0o700
    assert _mode(tmp_path / "data" / "nested") == 0o700
    assert _mode(tmp_path) == 0o755  # not created by the store: left alone


@pytest.mark.usefixtures("usual_umask")
def test_an_existing_file_keeps_its_mode_with_a_warning_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The store creates its file private; one an operator made is theirs,
    but a database others can read is said once (it holds user data)."""
    path = tmp_path / "users.db"
    path.touch(mode=0o640)
    repo = SQLiteUserRepository(path)
    with caplog.at_level(logging.WARNING, logger="wikibot_auth"):
        repo.get("usr_1")
        other = threading.Thread(target=repo.get, args=("usr_1",))  # its own link
        other.start()
        other.join()
        repo.get("usr_2")
    assert _mode(path) == 0o640
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"the user database {path} is readable by others (mode 0640): chmod 600 it"
    ]


def test_a_private_database_gets_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="wikibot_auth"):
        SQLiteUserRepository(tmp_path / "users.db").get("usr_1")
    assert caplog.records == []


def test_without_a_clock_writes_stamp_the_system_time(tmp_path: Path) -> None:
    repo = SQLiteUserRepository(tmp_path / "users.db")
    repo.create(_user(), [GOOGLE])
    before = int(time.time())
    updated = repo.set_disabled("usr_1", True).updated_at
    assert before <= updated <= time.time()
    repo.close()
