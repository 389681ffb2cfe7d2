"""Rows of the SQLite store's ``users`` table, read back as ``User`` values."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from ..domain.model import User


def item_from_row(extra: str, values: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """The stored record: the ``extra`` JSON object (attributes the library
    does not know), then every column that is not NULL."""
    item: dict[str, Any] = json.loads(extra)
    for column, value in values:
        if value is not None:
            item[column] = value
    item["disabled"] = bool(item.get("disabled", False))
    return item


def user_from_row(row: Sequence[Any], columns: Sequence[str]) -> User:
    """``User.from_item(item_from_row(...))`` of a row holding ``columns``
    (``User``'s fields, in order) and then ``extra``; without the dict between
    them when the row holds what the library writes (text in the text
    columns, numbers in the others, no unknown attributes)."""
    (user_id, email, name, provider, subject, workos_id, tier, *rest) = row
    disabled, created, updated, generation, valid_after, merged_into, extra = rest
    if (
        extra == "{}"
        and type(user_id) is str
        and type(email) is str
        and type(name) is str
        and type(provider) is str
        and type(subject) is str
        and (workos_id is None or type(workos_id) is str)
        and type(tier) is str
        and tier
        and (merged_into is None or type(merged_into) is str)
    ):
        try:
            return User(
                user_id,
                email,
                name,
                provider,
                subject,
                workos_id,
                tier,
                bool(disabled),
                created,
                updated,
                generation,
                valid_after,
                merged_into,
            )
        except (TypeError, ValueError, OverflowError):
            pass  # a NULL or a bad number: from_item reads or refuses it
    return User.from_item(item_from_row(extra, zip(columns, row, strict=False)))
