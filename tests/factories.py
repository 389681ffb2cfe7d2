"""Test data builders shared by the store tests: one ``User`` factory, and the
raw identity a ``User`` records."""

from __future__ import annotations

from typing import Any

from wikibot_auth.domain.model import User

CREATED_AT = 1_700_000_000


def make_user(user_id: str = "usr_1", **changes: Any) -> User:
    """Ada's record under ``user_id``; keyword arguments replace attributes."""
    values: dict[str, Any] = {
        "user_id": user_id,
        "email": "ada@example.com",
        "display_name": "Ada Lovelace",
        "oauth_provider": "google",
        "oauth_provider_sub": "g-1",
        "workos_user_id": "user_01",
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
    }
    values.update(changes)
    return User(**values)


def raw_identity(user: User) -> tuple[str, str]:
    return (user.oauth_provider, user.oauth_provider_sub)
