"""The SQLite store's schema by version, and its migration to the latest."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..domain.errors import StoreUnavailable

# The columns of ``users`` by schema version, besides ``extra``: one per
# attribute ``User`` knows, in its field order (a test holds the latest to
# ``attrs.fields(User)``, so a new attribute cannot go without a new version).
_V1_COLUMNS = (
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
_V2_COLUMNS = (*_V1_COLUMNS[:-1], "token_generation", _V1_COLUMNS[-1])
COLUMNS: dict[int, tuple[str, ...]] = {
    1: _V1_COLUMNS,
    2: _V2_COLUMNS,
    3: (*_V2_COLUMNS, "merged_into"),
}

# What brings a file of the version before to each version (never edited once
# released: a test builds an old file from them).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE IF NOT EXISTS users (
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
        )""",
        """CREATE TABLE IF NOT EXISTS identities (
            provider TEXT NOT NULL,
            subject TEXT NOT NULL,
            user_id TEXT NOT NULL REFERENCES users (user_id),
            PRIMARY KEY (provider, subject)
        )""",
        "CREATE INDEX IF NOT EXISTS identities_by_user ON identities (user_id)",
    ),
    # The revocation counter (DESIGN "Users and identities").
    2: ("ALTER TABLE users ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0",),
    # ``users merge`` (DESIGN "Leaving WorkOS"): whom a merged user went into.
    3: ("ALTER TABLE users ADD COLUMN merged_into TEXT",),
}
SCHEMA_VERSION = max(MIGRATIONS)


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the file to ``SCHEMA_VERSION`` in one write transaction (racing
    processes do it once); a file of a newer version is refused.

    Raises:
        StoreUnavailable: the file's version is newer than this code knows.
    """
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version < SCHEMA_VERSION:
        db.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: another process may have
            # migrated meanwhile, and then nothing is left to do.
            (version,) = db.execute("PRAGMA user_version").fetchone()
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[step]:
                    db.execute(statement)
            if version < SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")  # on failure the new connection is closed
            raise
    if version > SCHEMA_VERSION:
        raise StoreUnavailable(
            f"SQLite store {path} has schema version {version}; this "
            f"wikibot-auth knows up to {SCHEMA_VERSION}"
        )
