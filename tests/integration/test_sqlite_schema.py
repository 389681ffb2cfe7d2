"""The SQLite store's schema: one column list per version, the latest
holding every attribute ``User`` knows, and files of older versions migrated
once on first open, every row kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.conftest import workos_profile
from tests.integration.store_helpers import SQLiteRaw, process_race
from wikibot_auth.adapters import sqlite as sqlite_module
from wikibot_auth.adapters.memory import FixedClock
from wikibot_auth.adapters.sqlite import MIGRATIONS, SQLiteUserRepository
from wikibot_auth.domain.errors import StoreUnavailable
from wikibot_auth.domain.model import Identity, User


def test_the_schema_is_versioned_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "users.db"
    repo = SQLiteUserRepository(path)
    assert repo.get("usr_1") is None
    repo.close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone() == (3,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        db.execute("PRAGMA user_version = 99")
        db.commit()
    finally:
        db.close()
    with pytest.raises(StoreUnavailable, match="schema version 99"):
        SQLiteUserRepository(path).get("usr_1")


def test_the_latest_columns_are_the_attributes_user_knows() -> None:
    """A new ``User`` attribute without a column (and a schema version that
    adds it) fails here, not in production."""
    latest = sqlite_module.COLUMNS[sqlite_module.SCHEMA_VERSION]
    assert list(latest) == [f.name for f in attrs.fields(User)]
    assert sorted(sqlite_module.COLUMNS) == list(
        range(1, sqlite_module.SCHEMA_VERSION + 1)
    )


def test_a_new_file_has_exactly_the_latest_columns(tmp_path: Path) -> None:
    repo = SQLiteUserRepository(tmp_path / "users.db")
    repo.get("usr_1")
    repo.close()
    latest = sqlite_module.COLUMNS[sqlite_module.SCHEMA_VERSION]
    assert sorted(_columns(tmp_path / "users.db")) == sorted([*latest, "extra"])


V1_USERS = [
    # user_id, email, display_name, oauth_provider, oauth_provider_sub,
    # workos_user_id, tier, disabled, created_at, updated_at,
    # tokens_valid_after, extra
    (
        "usr_ada",
        "ada@example.com",
        "Ada Lovelace",
        "google",
        "g-1",
        "user_01",
        "pro",
        0,
        1_600_000_000,
        1_650_000_000,
        1_640_000_000,
        '{"plan_note": "kept", "seats": 3}',
    ),
    (
        "usr_bob",
        "bob@example.com",
        "Bob",
        "workos",
        "user_02",
        "user_02",
        None,
        1,
        1_600_000_001,
        1_600_000_001,
        0,
        "{}",
    ),
]
V1_IDENTITIES = [
    ("google", "g-1", "usr_ada"),
    ("workos", "user_01", "usr_ada"),
    ("workos", "user_02", "usr_bob"),
]


def _v1_file(path: Path, version: int = 1) -> None:
    """A file of ``version`` as wikibot-auth created it, holding the version 1
    rows (the columns added since at their defaults)."""
    db = sqlite3.connect(path)
    try:
        for step in range(1, version + 1):
            for statement in MIGRATIONS[step]:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {version}")
        columns = ", ".join([*sqlite_module.COLUMNS[1], "extra"])
        db.executemany(
            f"INSERT INTO users ({columns}) "  # noqa: S608
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            V1_USERS,
        )
        db.executemany("INSERT INTO identities VALUES (?, ?, ?)", V1_IDENTITIES)
        db.commit()
    finally:
        db.close()


def _columns(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [row[1] for row in db.execute("PRAGMA table_info(users)")]
    finally:
        db.close()


def _dump(path: Path) -> tuple[int, list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The version, the users (the version 1 columns in order, then the new
    ones) and the identities, as stored."""
    db = sqlite3.connect(path)
    try:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        v1 = ", ".join([*sqlite_module.COLUMNS[1], "extra"])
        added = [c for c in _columns(path) if c not in v1.split(", ")]
        users = db.execute(
            f"SELECT {', '.join([v1, *added])} FROM users ORDER BY user_id"  # noqa: S608
        ).fetchall()
        identities = db.execute("SELECT * FROM identities ORDER BY 1, 2").fetchall()
        return version, users, identities
    finally:
        db.close()


def test_a_version_1_file_moves_to_the_latest_on_first_open_keeping_every_row(
    tmp_path: Path,
) -> None:
    path = tmp_path / "users.db"
    _v1_file(path)
    assert _dump(path) == (1, V1_USERS, V1_IDENTITIES)
    repo = SQLiteUserRepository(path)
    ada = repo.get("usr_ada")
    assert ada is not None
    assert (ada.tier, ada.token_generation, ada.tokens_valid_after) == (
        "pro",
        0,
        1_640_000_000,
    )
    assert repo.find_by_identity(Identity.workos("user_02")).disabled is True
    repo.close()
    # Every row and its extra kept; the counter starts at 0, nobody is merged.
    assert _dump(path) == (3, [(*row, 0, None) for row in V1_USERS], V1_IDENTITIES)
    repo = SQLiteUserRepository(path, clock=FixedClock(1_750_000_000))
    revoked = repo.revoke_tokens("usr_ada", 1_750_000_000)
    assert (revoked.token_generation, revoked.tier) == (1, "pro")
    assert SQLiteRaw(repo).item("usr_ada")["plan_note"] == "kept"
    repo.close()


@pytest.mark.slow
def test_processes_opening_a_version_1_file_together_migrate_it_once(
    tmp_path: Path,
) -> None:
    """Each process finds version 1 and races to migrate; the migration runs
    under the write lock and reads the version again, so one does it (a second
    ALTER TABLE would fail on the duplicate column)."""
    path = tmp_path / "users.db"
    _v1_file(path)
    outcomes = process_race(("sqlite", str(path)), [workos_profile()], processes=4)
    assert len(set(outcomes[0])) == 1, outcomes  # one user, no error
    assert outcomes[0][0].startswith("usr_")
    version, users, identities = _dump(path)
    assert version == 3
    assert len(users) == len(V1_USERS) + 1
    assert {(*row, 0, None) for row in V1_USERS} <= set(users)
    assert set(V1_IDENTITIES) <= set(identities)
    assert _columns(path).count("token_generation") == 1


def test_a_version_2_file_moves_to_version_3_and_merged_into_round_trips(
    tmp_path: Path,
) -> None:
    path = tmp_path / "users.db"
    _v1_file(path, version=2)
    assert _dump(path) == (2, [(*row, 0) for row in V1_USERS], V1_IDENTITIES)
    repo = SQLiteUserRepository(path, clock=FixedClock(1_750_000_000))
    assert repo.get("usr_bob").merged_into is None
    merged = repo.mark_merged("usr_bob", "usr_ada")
    assert (merged.merged_into, merged.disabled, merged.workos_user_id) == (
        "usr_ada",
        True,
        "user_02",
    )
    repo.close()
    version, users, identities = _dump(path)
    assert (version, identities) == (3, V1_IDENTITIES)
    assert users[0] == (*V1_USERS[0], 0, None)
    assert users[1][-1] == "usr_ada"
    assert SQLiteUserRepository(path).get("usr_bob").merged_into == "usr_ada"
