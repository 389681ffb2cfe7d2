"""Test data builders shared by the store tests: one ``User`` factory, a user
added to a store with its identities, and the raw identity a ``User``
records."""

from __future__ import annotations

from typing import Any

from wikibot_auth.domain.model import Identity, User

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


def add_user(repo: Any, user_id: str, *identities: Identity, **changes: Any) -> User:
    """Create Ada's record under ``user_id`` in ``repo`` holding
    ``identities``: the first recorded as primary, a ``workos`` one as
    ``workos_user_id``; keyword arguments replace attributes."""
    first = identities[0]
    aliases = [i.subject for i in identities if i.provider == "workos"]
    values: dict[str, Any] = {
        "oauth_provider": first.provider,
        "oauth_provider_sub": first.subject,
        "workos_user_id": aliases[0] if aliases else None,
    }
    values.update(changes)
    user, created = repo.create(make_user(user_id, **values), list(identities))
    assert created
    return user  # type: ignore[no-any-return]
