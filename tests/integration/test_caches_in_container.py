"""The container puts the caches where DESIGN.md says, and only there."""

from __future__ import annotations

import pytest
from dependency_injector import providers

from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.memory import InMemoryUserRepository
from wikibot_auth.adapters.rs256 import RS256TokenSigner
from wikibot_auth.adapters.user_cache import CachingUserRepository
from wikibot_auth.domain.errors import InvalidToken
from wikibot_auth.domain.model import Identity, User
from wikibot_auth.entrypoints.containers import create_container


def env(tmp_path, **extra: str) -> dict[str, str]:
    return {
        "WIKIBOT_AUTH_DATA_DIR": str(tmp_path),
        "WIKIBOT_AUTH_USER_STORE": "memory://",
        **extra,
    }


def test_token_signer_is_the_rs256_signer_with_its_cache(tmp_path):
    container = create_container(env(tmp_path))
    signer = container.token_signer()
    assert isinstance(signer, RS256TokenSigner)
    assert signer.cache_size > 0
    assert container.token_signer() is signer
    token = signer.create_token("u1")
    assert signer.validate_token(token) is signer.validate_token(token)


def test_user_repository_is_the_store_itself_by_default(tmp_path):
    container = create_container(env(tmp_path))
    assert isinstance(container.user_repository(), InMemoryUserRepository)
    assert container.user_repository() is container.user_store()
    assert container.cached_users() is None
    assert container.authenticate().cached_users is None


def test_a_positive_user_cache_ttl_wraps_the_store(tmp_path):
    container = create_container(env(tmp_path, WIKIBOT_AUTH_USER_CACHE_TTL="5"))
    users = container.user_repository()
    assert isinstance(users, CachingUserRepository)
    assert users.inner is container.user_store()
    assert container.user_repository() is users
    assert container.authenticate().cached_users is users


def test_a_new_token_signer_refuses_what_it_would_refuse_though_answers_remain(
    tmp_path, other_key
):
    # ``answers`` is a process-wide singleton; ``token_signer`` can be
    # overridden or reset (a reloaded key ring) without it. The old key's
    # tokens must then be refused as the new signer refuses them.
    container = create_container(env(tmp_path, WIKIBOT_AUTH_USER_CACHE_TTL="5"))
    container.user_store().create(
        User("usr_1", "a@example.com", "A", "local", "a"), [Identity("local", "a")]
    )
    header = f"Bearer {container.token_signer().create_token('usr_1')}"
    assert container.authenticate()(header).user_id == "usr_1"
    rotated = RS256TokenSigner(KeyRing.of_private_key(other_key), container.clock())
    container.token_signer.override(providers.Object(rotated))
    with pytest.raises(InvalidToken):
        container.authenticate()(header)
