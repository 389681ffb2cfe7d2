"""The composition root: one dependency-injector container for every entrypoint.

    container = create_container()              # settings from the environment
    container.authenticate()("Bearer eyJ...")   # -> AuthenticatedUser

Tests override providers (``container.user_repository.override(...)``) rather
than patching modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

from dependency_injector import containers, providers

from ..adapters.dynamodb import DynamoDBUserRepository, make_dynamodb_client
from ..adapters.local_idp import LocalIdentityProvider
from ..adapters.memory import InMemoryUserRepository
from ..adapters.rs256 import KeyRing, RS256TokenSigner
from ..adapters.sqlite import SQLiteUserRepository
from ..adapters.system_clock import SystemClock
from ..domain.ports import Clock, IdentityProvider, TokenSigner, UserRepository
from ..domain.use_cases import (
    Authenticate,
    AuthorizationUrl,
    ExchangeAuthCode,
    SetUserDisabled,
    SignOutEverywhere,
)
from .keys import load_key_ring
from .settings import Settings


def local_sign_in_url(redirect_uri: str | None) -> str:
    """The local IdP's sign-in page sits beside the callback route."""
    return urljoin(redirect_uri or "/auth/callback", "local/sign-in")


class Container(containers.DeclarativeContainer):
    """Providers: ``config``, ``clock``, ``token_signer``, ``identity_provider``,
    ``user_repository`` and the use cases ``authenticate``, ``exchange_auth_code``,
    ``authorization_url``, ``sign_out_everywhere`` (plus ``set_user_disabled``)."""

    config = providers.Configuration(strict=True)

    # adapters
    clock: providers.Provider[Clock] = providers.Singleton(SystemClock)

    key_ring: providers.Provider[KeyRing] = providers.Singleton(
        load_key_ring,
        private_key=config.private_key,
        private_key_file=config.private_key_file,
        public_keys_file=config.public_keys_file,
        data_dir=config.data_dir,
        may_generate_key=config.may_generate_key,
    )

    token_signer: providers.Provider[TokenSigner] = providers.Singleton(
        RS256TokenSigner,
        key_ring=key_ring,
        clock=clock,
        issuer=config.issuer,
        audience=config.audience,
        token_ttl=config.token_ttl,
        max_token_ttl=config.max_token_ttl,
        leeway=config.leeway,
    )

    # One boto3 client per process; built only when the DynamoDB store is used.
    dynamodb_client: providers.Provider[Any] = providers.Singleton(make_dynamodb_client)

    dynamodb_user_repository: providers.Provider[DynamoDBUserRepository] = (
        providers.Singleton(
            DynamoDBUserRepository, client=dynamodb_client, table=config.store_location
        )
    )

    user_repository: providers.Provider[UserRepository] = providers.Selector(
        config.store_kind,
        memory=providers.Singleton(InMemoryUserRepository),
        sqlite=providers.Singleton(SQLiteUserRepository, config.store_location),
        dynamodb=dynamodb_user_repository,
    )

    identity_provider: providers.Provider[IdentityProvider | None] = providers.Selector(
        config.idp,
        none=providers.Object(None),
        local=providers.Singleton(
            LocalIdentityProvider,
            clock=clock,
            sign_in_url=providers.Callable(local_sign_in_url, config.redirect_uri),
        ),
    )

    # use cases
    authenticate = providers.Factory(
        Authenticate, token_signer=token_signer, user_repository=user_repository
    )
    exchange_auth_code = providers.Factory(
        ExchangeAuthCode,
        identity_provider=identity_provider,
        user_repository=user_repository,
        token_signer=token_signer,
        clock=clock,
    )
    authorization_url = providers.Factory(
        AuthorizationUrl, identity_provider=identity_provider
    )
    sign_out_everywhere = providers.Factory(
        SignOutEverywhere, user_repository=user_repository, clock=clock
    )
    set_user_disabled = providers.Factory(
        SetUserDisabled, user_repository=user_repository, clock=clock
    )


def create_container(
    environ: Mapping[str, str] | None = None, **overrides: Any
) -> Container:
    """A container configured from the environment (``os.environ`` by default);
    keyword ``overrides`` (settings field names) win over it.

    Raises:
        NotConfigured: a setting is missing or invalid.
    """
    settings = Settings.from_env(environ, **overrides)
    container = Container()
    container.config.from_dict(settings.to_config())
    return container
