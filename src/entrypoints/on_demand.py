"""The container's factories of what only some configurations use, imported late.

Each imports its module on its first call. Every entrypoint builds the same
container, and the Lambda authorizer resolves only ``authenticate`` from it:
what it never resolves (the other stores, the IdPs' HTTP client, the other
use cases, the operators' migration and repair tools, the login cookie, the
local IdP) is thus never imported at its cold start. That spares heavy libraries (httpx,
sqlite3) and attrs classes, each of which costs about half a millisecond to
create (these modules hold a dozen).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from ..domain.ports import (
    Clock,
    IdentityDirectory,
    IdentityProvider,
    TokenSigner,
    UserRepository,
)

if TYPE_CHECKING:
    from ..adapters.bounded_http import BoundedHttpClient
    from ..adapters.key_ring import KeyRing
    from ..adapters.local_idp import LocalIdentityProvider
    from ..adapters.memory import InMemoryUserRepository
    from ..adapters.sqlite import SQLiteUserRepository
    from ..domain.migration import BackfillIdentities, MigrationReport
    from ..domain.repairs import LinkIdentity, MergeUsers, UnlinkIdentity
    from ..domain.use_cases import (
        AuthorizationUrl,
        ExchangeAuthCode,
        SetUserDisabled,
        SignOutEverywhere,
    )
    from .login_state import LoginStateCodec


def idp_http_client(timeout: float) -> Iterator[BoundedHttpClient]:
    from ..adapters.bounded_http import open_bounded_http_client

    yield from open_bounded_http_client(timeout)


def sqlite_user_repository(path: str, clock: Clock) -> SQLiteUserRepository:
    from ..adapters.sqlite import SQLiteUserRepository

    return SQLiteUserRepository(path, clock=clock)


def memory_user_repository(clock: Clock) -> InMemoryUserRepository:
    from ..adapters.memory import InMemoryUserRepository

    return InMemoryUserRepository(clock=clock)


def local_identity_provider(clock: Clock, sign_in_url: str) -> LocalIdentityProvider:
    from ..adapters.local_idp import LocalIdentityProvider

    return LocalIdentityProvider(clock, sign_in_url=sign_in_url)


def exchange_auth_code(
    identity_provider: IdentityProvider | None,
    user_repository: UserRepository,
    token_signer: TokenSigner,
    clock: Clock,
    identity_providers: Mapping[str, IdentityProvider],
) -> ExchangeAuthCode:
    from ..domain.use_cases import ExchangeAuthCode

    return ExchangeAuthCode(
        identity_provider,
        user_repository,
        token_signer,
        clock,
        identity_providers=identity_providers,
    )


def authorization_url(
    identity_provider: IdentityProvider | None,
    identity_providers: Mapping[str, IdentityProvider],
) -> AuthorizationUrl:
    from ..domain.use_cases import AuthorizationUrl

    return AuthorizationUrl(identity_provider, identity_providers)


def sign_out_everywhere(
    user_repository: UserRepository, clock: Clock
) -> SignOutEverywhere:
    from ..domain.use_cases import SignOutEverywhere

    return SignOutEverywhere(user_repository, clock)


def set_user_disabled(user_repository: UserRepository, clock: Clock) -> SetUserDisabled:
    from ..domain.use_cases import SetUserDisabled

    return SetUserDisabled(user_repository, clock)


def migration_report(user_repository: UserRepository) -> MigrationReport:
    from ..domain.migration import MigrationReport

    return MigrationReport(user_repository)


def backfill_identities(
    user_repository: UserRepository,
    identity_directory: IdentityDirectory | None,
    sleep: Callable[[float], None],
) -> BackfillIdentities:
    from ..domain.migration import BackfillIdentities

    return BackfillIdentities(user_repository, identity_directory, sleep)


def link_identity(user_repository: UserRepository) -> LinkIdentity:
    from ..domain.repairs import LinkIdentity

    return LinkIdentity(user_repository)


def unlink_identity(user_repository: UserRepository) -> UnlinkIdentity:
    from ..domain.repairs import UnlinkIdentity

    return UnlinkIdentity(user_repository)


def merge_users(user_repository: UserRepository, clock: Clock) -> MergeUsers:
    from ..domain.repairs import MergeUsers

    return MergeUsers(user_repository, clock)


def login_state_key(key_ring: KeyRing) -> bytes:
    from .login_state import derive_login_state_key

    return derive_login_state_key(key_ring)


def login_state_codec(key: bytes, clock: Clock) -> LoginStateCodec:
    from .login_state import LoginStateCodec

    return LoginStateCodec(key=key, clock=clock)
