"""The composition root: every adapter is chosen and wired here, from settings.

    container = create_container()              # settings from the environment
    container.authenticate()("Bearer eyJ...")   # -> AuthenticatedUser

The variants of the wiring follow from the settings, never from an entrypoint
overriding providers: ``runtime`` (``server``, ``lambda``: the tighter budget
of the AWS clients; ``cli``), ``verify_only`` (the Lambda authorizer: a key ring
of public keys that never signs), ``key_file`` (the CLI's ``--key``) and
``kms_key_id`` (``WIKIBOT_AUTH_KMS_KEY_ID``: KMS signs). Tests override
providers (``container.user_repository.override(...)``) rather than patching
modules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from dependency_injector import containers, providers

from ..adapters.aws_clients import new_session
from ..adapters.dynamodb import DynamoDBUserRepository
from ..adapters.key_ring import KeyRing, SigningBackend
from ..adapters.rs256 import RS256TokenSigner
from ..adapters.system_clock import SystemClock
from ..adapters.user_cache import answer_memory_of, cached_users_of, with_user_cache
from ..domain.authenticate import Authenticate
from ..domain.ports import (
    AnswerMemory,
    CachedUsers,
    Clock,
    IdentityDirectory,
    IdentityProvider,
    TokenSigner,
    UserRepository,
)
from . import on_demand
from .aws_resources import (
    dynamodb_client_for,
    dynamodb_table_for,
    kms_client_for,
    kms_signing_key_for,
)
from .identity_providers import (
    IdentityProviders,
    ProviderAdapters,
    active_local,
    callback_of,
    configured_providers,
    default_adapter,
    first_of,
    workos_adapter,
    workos_directory,
)
from .keys import load_key_ring
from .settings import Settings

if TYPE_CHECKING:
    from ..adapters.bounded_http import BoundedHttpClient
    from ..adapters.dynamodb_table import DynamoDBTable
    from ..adapters.github import GitHubIdentityProvider
    from ..adapters.kms_signing_key import KMSSigningKey
    from ..adapters.local_idp import LocalIdentityProvider
    from ..adapters.memory import InMemoryUserRepository
    from ..adapters.oidc import OIDCIdentityProvider
    from ..adapters.sqlite import SQLiteUserRepository
    from ..adapters.workos import WorkOSIdentityProvider
    from ..adapters.workos_directory import WorkOSIdentityDirectory
    from .login_state import LoginStateCodec

# Adapters with heavy libraries (httpx, boto3, sqlite3) are imported when their
# provider is first resolved, never at import: the Lambda authorizer path loads
# only what its configuration uses (on_demand.py: the same for what only some
# entrypoints use).


if TYPE_CHECKING:
    # The container's selectors are loosely typed: this lets mypy check that
    # every adapter satisfies its port.
    def _adapters_satisfy_their_ports(
        memory: InMemoryUserRepository,
        sqlite: SQLiteUserRepository,
        dynamodb: DynamoDBUserRepository,
        workos: WorkOSIdentityProvider,
        workos_directory: WorkOSIdentityDirectory,
        local: LocalIdentityProvider,
        oidc: OIDCIdentityProvider,
        github: GitHubIdentityProvider,
        rs256: RS256TokenSigner,
        clock: SystemClock,
        kms: KMSSigningKey,
    ) -> None:
        stores: list[UserRepository] = [memory, sqlite, dynamodb]
        idps: list[IdentityProvider] = [workos, local, oidc, github]
        directories: list[IdentityDirectory] = [workos_directory]
        signers: list[TokenSigner] = [rs256]
        clocks: list[Clock] = [clock]
        backends: list[SigningBackend] = [kms]
        del stores, idps, directories, signers, clocks, backends


def _has_workos_key(api_key: str | None) -> str:
    return "workos" if api_key else "none"


def _by_name(config: providers.Configuration, *names: str) -> dict[str, Any]:
    """``{name: config.<name>}``: settings passed on under their own names."""
    return {name: getattr(config, name) for name in names}


def local_sign_in_url(redirect_uri: str | None) -> str:
    """The local IdP's sign-in page sits beside the callback route."""
    return urljoin(redirect_uri or "/auth/callback", "local/sign-in")


class Container(containers.DeclarativeContainer):
    """Providers: ``config``, ``clock``, ``token_signer``, ``identity_providers``
    (name -> adapter, in the configured order), ``identity_provider`` (the
    default one), ``user_repository`` and the use cases ``authenticate``,
    ``exchange_auth_code``, ``authorization_url``, ``sign_out_everywhere``
    (plus ``set_user_disabled``, and the migration tools ``migration_report``,
    ``backfill_identities`` over ``identity_directory``, ``link_identity``,
    ``unlink_identity``, ``merge_users``)."""

    config = providers.Configuration(strict=True)

    # adapters
    clock: providers.Provider[Clock] = providers.ThreadSafeSingleton(SystemClock)

    # One boto3 session per process: its clients share what botocore loads.
    aws_session: providers.Provider[Any] = providers.ThreadSafeSingleton(new_session)

    # One KMS client per process, built only when a KMS key is configured.
    kms_client: providers.Provider[Any] = providers.ThreadSafeSingleton(
        kms_client_for, config.runtime, aws_session
    )

    # The KMS key, resolved (GetPublicKey) once per process and pinned by ARN.
    kms_signing_key: providers.Provider[KMSSigningKey] = providers.ThreadSafeSingleton(
        kms_signing_key_for, client=kms_client, key_id=config.kms_key_id
    )

    key_ring: providers.Provider[KeyRing] = providers.ThreadSafeSingleton(
        load_key_ring,
        # The provider itself: resolved only when the key ring needs KMS.
        kms_signing_key=kms_signing_key.provider,
        **_by_name(
            config,
            "private_key",
            "private_key_file",
            "public_keys_file",
            "data_dir",
            "may_generate_key",
            "key_file",
            "kms_key_id",
            "verify_only",
        ),
    )

    # RS256 over the key ring, with its verified-token cache.
    token_signer: providers.Provider[TokenSigner] = providers.ThreadSafeSingleton(
        RS256TokenSigner,
        key_ring=key_ring,
        clock=clock,
        **_by_name(
            config, "issuer", "audience", "token_ttl", "max_token_ttl", "leeway"
        ),
    )

    # One boto3 client per process; built only when the DynamoDB store is used.
    dynamodb_client: providers.Provider[Any] = providers.ThreadSafeSingleton(
        dynamodb_client_for, config.runtime, aws_session
    )

    dynamodb_user_repository: providers.Provider[DynamoDBUserRepository] = (
        providers.ThreadSafeSingleton(
            DynamoDBUserRepository,
            client=dynamodb_client,
            table=config.store_location,
            clock=clock,
        )
    )

    # The table's operator tools (``dynamodb create-table``).
    dynamodb_table: providers.Provider[DynamoDBTable] = providers.ThreadSafeSingleton(
        dynamodb_table_for, client=dynamodb_client, table=config.store_location
    )

    user_store: providers.Provider[UserRepository] = providers.Selector(
        config.store_kind,
        memory=providers.ThreadSafeSingleton(
            on_demand.memory_user_repository, clock=clock
        ),
        sqlite=providers.ThreadSafeSingleton(
            on_demand.sqlite_user_repository, config.store_location, clock
        ),
        dynamodb=dynamodb_user_repository,
    )

    # The selected store, behind the user cache when WIKIBOT_AUTH_USER_CACHE_TTL > 0.
    user_repository: providers.Provider[UserRepository] = providers.ThreadSafeSingleton(
        with_user_cache, store=user_store, clock=clock, ttl=config.user_cache_ttl
    )
    # What the async request path may answer from memory (None: no user cache).
    cached_users: providers.Provider[CachedUsers | None] = providers.Callable(
        cached_users_of, user_repository
    )
    # authenticate's answers by token, while the user cache would answer the same.
    answers: providers.Provider[AnswerMemory | None] = providers.ThreadSafeSingleton(
        answer_memory_of, cached_users
    )

    # The IdPs' one bounded HTTP client, closed by ``shutdown_resources()``.
    idp_http_client: providers.Resource[BoundedHttpClient] = providers.Resource(
        on_demand.idp_http_client, timeout=config.idp_timeout
    )

    local_identity_provider: providers.Provider[LocalIdentityProvider] = (
        providers.ThreadSafeSingleton(
            on_demand.local_identity_provider,
            clock=clock,
            sign_in_url=providers.Callable(local_sign_in_url, config.redirect_uri),
        )
    )

    workos_identity_provider: providers.Provider[WorkOSIdentityProvider] = (
        providers.ThreadSafeSingleton(
            workos_adapter,
            http=idp_http_client,
            api_key=config.workos_api_key,
            client_id=config.workos_client_id,
            base_url=config.workos_base_url,
            redirect_uri=providers.Callable(
                callback_of, config.redirect_uri, config.identity_providers, "workos"
            ),
        )
    )

    # Every configured provider's adapter, each made on first use (an OpenID
    # provider's discovery waits for its first login), all on idp_http_client.
    idp_adapters: providers.Provider[ProviderAdapters] = providers.ThreadSafeSingleton(
        ProviderAdapters,
        config.identity_providers,
        redirect_uri=config.redirect_uri,
        leeway=config.leeway,
        http=idp_http_client.provider,
        workos=workos_identity_provider.provider,
        local=local_identity_provider.provider,
    )

    # The default provider (the first of WIKIBOT_AUTH_IDP; None with none).
    identity_provider: providers.Provider[IdentityProvider | None] = providers.Callable(
        default_adapter, idp_adapters
    )

    # name -> IdentityProvider, in the configured order, the default first.
    identity_providers: providers.Provider[IdentityProviders] = providers.Callable(
        configured_providers, idp_adapters, identity_provider.provider
    )

    # The local IdP when it is one of the configured ones (its sign-in
    # routes, the loopback guard), else None.
    active_local_identity_provider: providers.Provider[LocalIdentityProvider | None] = (
        providers.Callable(
            active_local, config.identity_providers, local_identity_provider.provider
        )
    )

    # WorkOS's account directory (its identities API) for the migration's
    # backfill, whenever WORKOS_API_KEY is set, whichever IdPs log people in.
    identity_directory: providers.Provider[IdentityDirectory | None] = (
        providers.Selector(
            providers.Callable(_has_workos_key, config.workos_api_key),
            none=providers.Object(None),
            workos=providers.ThreadSafeSingleton(
                workos_directory,
                http=idp_http_client,
                api_key=config.workos_api_key,
                base_url=config.workos_base_url,
            ),
        )
    )

    # use cases, their ports in field order (as tests build them by hand)
    authenticate = providers.Factory(
        Authenticate,
        token_signer,
        user_repository,
        cached_users,
        answers,
        clock,
    )
    # the login's: the first configured provider is the default
    exchange_auth_code = providers.Factory(
        on_demand.exchange_auth_code,
        providers.Callable(first_of, identity_providers),
        user_repository,
        token_signer,
        clock,
        identity_providers=identity_providers,
    )
    authorization_url = providers.Factory(
        on_demand.authorization_url,
        providers.Callable(first_of, identity_providers),
        identity_providers,
    )
    sign_out_everywhere = providers.Factory(
        on_demand.sign_out_everywhere, user_repository, clock
    )
    set_user_disabled = providers.Factory(
        on_demand.set_user_disabled, user_repository, clock
    )
    # the operator's tools for leaving WorkOS; the backfill waits out a 429
    # with ``sleep`` (tests override it)
    sleep: providers.Provider[Callable[[float], None]] = providers.Object(time.sleep)
    migration_report = providers.Factory(on_demand.migration_report, user_repository)
    backfill_identities = providers.Factory(
        on_demand.backfill_identities, user_repository, identity_directory, sleep
    )
    link_identity = providers.Factory(on_demand.link_identity, user_repository)
    unlink_identity = providers.Factory(on_demand.unlink_identity, user_repository)
    merge_users = providers.Factory(on_demand.merge_users, user_repository, clock)

    # web entrypoints: the signed login cookie (key derived from the signing key)
    login_state: providers.Provider[LoginStateCodec] = providers.ThreadSafeSingleton(
        on_demand.login_state_codec,
        key=providers.ThreadSafeSingleton(on_demand.login_state_key, key_ring),
        clock=clock,
    )


def create_container(
    environ: Mapping[str, str] | None = None, **overrides: Any
) -> Container:
    """A container configured from the environment (``os.environ`` by default);
    keyword ``overrides`` (settings field names) win over it.

    Raises:
        NotConfigured: a setting is missing or invalid.
    """
    return container_for(Settings.from_env(environ, **overrides))


def container_for(settings: Settings) -> Container:
    """A container configured with ``settings`` (e.g. ``Settings.for_serve``)."""
    container = Container()
    container.config.from_dict(settings.to_config())
    return container
