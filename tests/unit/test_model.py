from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from wikibot_auth.domain.model import (
    Identity,
    User,
    display_name_for,
    is_valid_code_verifier,
    normalize_provider,
)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("GoogleOAuth", "google"),
        ("GithubOAuth", "github"),
        ("GitHubOAuth", "github"),
        ("MicrosoftOAuth", "microsoft"),
        ("AppleOAuth", "apple"),
        ("workos", "workos"),
        ("OAuth", "oauth"),
    ],
)
def test_provider_names_are_normalized(raw: str, normalized: str) -> None:
    assert normalize_provider(raw) == normalized


@pytest.mark.parametrize(
    ("first", "last", "email", "name"),
    [
        ("Ada", "Lovelace", "ada@example.com", "Ada Lovelace"),
        ("Ada", None, "ada@example.com", "Ada"),
        (None, "Lovelace", "ada@example.com", "Lovelace"),
        (None, None, "ada.l@example.com", "ada.l"),
        ("", "  ", "x@example.com", "x"),
    ],
)
def test_display_name(
    first: str | None, last: str | None, email: str, name: str
) -> None:
    assert display_name_for(first, last, email) == name


def test_local_identity_is_the_normalized_email() -> None:
    assert Identity.local("  Ada@Example.COM ") == Identity("local", "ada@example.com")


def test_identity_needs_provider_and_subject() -> None:
    with pytest.raises(ValueError, match="subject"):
        Identity("google", "")


def test_user_round_trips_through_an_item_with_decimals() -> None:
    user = User("usr_1", "a@b.c", "A", "google", "1", tokens_valid_after=5)
    item = {**user.to_item(), "created_at": Decimal(7), "unknown": "kept elsewhere"}
    restored = User.from_item(item)
    assert restored == attrs.evolve(user, created_at=7)
    assert type(restored.created_at) is int


@pytest.mark.parametrize(
    ("verifier", "valid"),
    [
        ("a" * 43, True),
        ("a" * 128, True),
        ("a" * 42, False),
        ("a" * 129, False),
        ("a" * 42 + "!", False),
        ("A-._~" * 9, True),
        (None, False),
    ],
)
def test_code_verifier_rules(verifier: str | None, valid: bool) -> None:
    assert is_valid_code_verifier(verifier) is valid


@pytest.mark.parametrize("provider", ["a#b", "Google", "go ogle", "x" * 65, "ü", ""])
def test_identity_provider_names_are_unambiguous_store_keys(provider: str) -> None:
    """``Identity("a#b", "c")`` and ``Identity("a", "b#c")`` would share the key
    ``a#b#c``: provider names are ``[a-z0-9_-]{1,64}``."""
    with pytest.raises(ValueError, match=r"\[a-z0-9_-\]"):
        Identity(provider, "c")


@pytest.mark.parametrize("provider", ["local", "workos", "google", "x" * 64, "a-b_9"])
def test_identity_provider_names_we_use_are_valid(provider: str) -> None:
    assert Identity(provider, "b#c").key == f"{provider}#b#c"
