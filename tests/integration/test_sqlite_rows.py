"""``SQLiteUserRepository.get`` reads a row straight into a ``User`` (every
request does it when the user cache is off); it answers exactly what
``User.from_item`` of the stored record answers, whatever the row holds:
what the library writes, and what a hand edit could leave there (numbers in
text columns, text in number columns, blobs, NULLs, an ``extra`` object that
names known attributes, a record ``from_item`` refuses)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, reject, settings
from hypothesis import strategies as st

from wikibot_auth.adapters import sqlite as sqlite_module
from wikibot_auth.adapters.sqlite import SQLiteUserRepository
from wikibot_auth.domain.model import Identity, User

COLUMNS = sqlite_module.COLUMNS[sqlite_module.SCHEMA_VERSION]
NULLABLE = {"workos_user_id", "tier"}

texts = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["", "free", "pro", "0", "1.5", "12"]),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=True),
    st.binary(max_size=3),
)
numbers = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, 2**53 - 1, 2**53, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "7", "7.5", "x", "1e400"]),
    st.binary(max_size=3),
)
extras = st.one_of(
    st.just("{}"),
    st.dictionaries(
        st.sampled_from(["plan", "note", "tier", "workos_user_id", "disabled"]),
        st.one_of(st.none(), st.text(max_size=4), st.integers(0, 3)),
        min_size=1,
    ).map(json.dumps),
)


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    row: dict[str, Any] = {"user_id": "usr_1", "extra": draw(extras)}
    for column in COLUMNS[1:]:
        text = column in {"email", "display_name", "oauth_provider"}
        text = text or column in {"oauth_provider_sub", "workos_user_id", "tier"}
        value = draw(texts if text else numbers)
        if column in NULLABLE and draw(st.booleans()):
            value = None
        if draw(st.integers(0, 3)) == 0:  # mostly what the library writes
            row[column] = value
        else:
            row[column] = {
                "workos_user_id": "user_01",
                "tier": "free",
                "disabled": 0,
                "created_at": 1_700_000_000,
                "updated_at": 1_700_000_000,
                "token_generation": 0,
                "tokens_valid_after": 0,
            }.get(column, column)
    return row


def outcome(read: Any) -> Any:
    try:
        return read()
    except Exception as exc:
        return type(exc).__name__, str(exc)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> SQLiteUserRepository:
    store = SQLiteUserRepository(tmp_path_factory.mktemp("rows") / "users.db")
    store.get("usr_probe")  # the schema
    return store


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows())
@example({"user_id": "usr_1", "extra": "{}", **dict.fromkeys(COLUMNS[1:], "")})
def test_get_answers_what_from_item_answers(repo, row):
    db = sqlite3.connect(repo.path, isolation_level=None)
    db.row_factory = sqlite3.Row
    try:
        db.execute("DELETE FROM users")
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        try:
            db.execute(
                f"INSERT INTO users ({names}) VALUES ({marks})",  # noqa: S608
                list(row.values()),
            )
        except sqlite3.IntegrityError:  # NaN is NULL to SQLite: NOT NULL refuses
            reject()
        stored = db.execute("SELECT * FROM users").fetchone()
    finally:
        db.close()

    def by_item() -> User:
        return User.from_item(sqlite_module._item(stored))

    assert outcome(lambda: repo.get("usr_1")) == outcome(by_item)


def test_every_attribute_the_library_writes_reads_back(tmp_path: Path):
    user = User("usr_2", "a@b.c", "A", "google", "1", None, "pro", True, 5, 6, 7, 8)
    store = SQLiteUserRepository(tmp_path / "users.db")
    store.create(user, [Identity("google", "1")])
    assert store.get("usr_2") == user
    store.close()
