"""The use cases: each a frozen callable whose fields are ports."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping

import attrs

from .audit import audit
from .authenticate import Authenticate as Authenticate
from .authenticate import check_user as check_user
from .errors import (
    AuthError,
    InvalidCallback,
    InvalidRequest,
    NotConfigured,
    UserDisabled,
)
from .model import (
    AuthenticatedUser,
    AuthorizationRequest,
    Identity,
    IdentityProfile,
    LoginCallback,
    LoginResult,
    User,
    is_valid_code_verifier,
    new_user_id,
)
from .ports import Clock, IdentityProvider, TokenSigner, UserRepository

logger = logging.getLogger("wikibot_auth")

MAX_CODE_LENGTH = 2048


def pick_identity_provider(
    default: IdentityProvider | None,
    by_name: Mapping[str, IdentityProvider],
    name: str | None,
    unknown: type[AuthError],
) -> IdentityProvider:
    """``by_name[name]``, or ``default`` when no name is given.

    Raises:
        NotConfigured: no name and no default provider.
        ``unknown``: a name that is not configured.
    """
    if name is None:
        if default is None:
            raise NotConfigured("no identity provider is configured")
        return default
    found = by_name.get(name)
    if found is None:
        raise unknown("the login names an identity provider that is not configured")
    return found


def _linked(user_id: str, identity: Identity, linked: list[str]) -> None:
    audit("identity.linked", user_id=user_id, provider=identity.provider, by="login")
    linked.append(identity.provider)


@attrs.frozen
class ExchangeAuthCode:
    """``exchange_auth_code(code, code_verifier) -> LoginResult``, or
    ``.finish(LoginCallback(...))`` with what the login cookie kept.

    IdP code exchange, identity resolution (one person never becomes two
    users), profile sync, then a platform token. The code goes to the provider
    the callback names (``identity_providers[callback.provider]``), or to
    ``identity_provider`` (the default one) when it names none.

    Raises:
        NotConfigured: no identity provider is configured.
        InvalidCallback: the code or PKCE verifier is malformed, or the
            callback names a provider that is not configured.
        LoginFailed, LoginStepRequired, IdPError, IdPUnavailable: from the IdP.
        UserDisabled: the user exists and is disabled.
        StoreUnavailable: the user store could not be used.
    """

    identity_provider: IdentityProvider | None
    user_repository: UserRepository
    token_signer: TokenSigner
    clock: Clock
    new_user_id: Callable[[], str] = new_user_id
    identity_providers: Mapping[str, IdentityProvider] = attrs.field(factory=dict)

    def __call__(self, code: str, code_verifier: str) -> LoginResult:
        return self.finish(LoginCallback(code=code, code_verifier=code_verifier))

    def finish(self, callback: LoginCallback) -> LoginResult:
        linked: list[str] = []
        try:
            result = self._login(callback, linked)
        except AuthError as exc:
            audit("login.failed", code=exc.code, provider=callback.provider)
            raise
        audit(
            "login.succeeded",
            user_id=result.user.user_id,
            provider=callback.provider or result.user.record.oauth_provider,
            user_created=result.created,
            linked=linked,
        )
        return result

    def _login(self, callback: LoginCallback, linked: list[str]) -> LoginResult:
        idp = pick_identity_provider(
            self.identity_provider,
            self.identity_providers,
            callback.provider,
            InvalidCallback,
        )
        code = callback.code
        if not code or len(code) > MAX_CODE_LENGTH:
            raise InvalidCallback("the authorization code is missing or malformed")
        if not is_valid_code_verifier(callback.code_verifier):
            raise InvalidCallback("the PKCE code verifier is missing or malformed")
        profile = idp.exchange_code(callback)
        user, created = self._resolve(profile, linked)
        if user.disabled:
            raise UserDisabled()
        changes = user.profile_changes(profile)
        if changes and not created:
            user = self.user_repository.update_profile(user.user_id, changes)
        token = self.token_signer.create_token(
            user.user_id, generation=user.token_generation
        )
        return LoginResult(
            token=token,
            expires_in=self.token_signer.token_ttl,
            user=AuthenticatedUser.from_user(user),
            created=created,
        )

    def _resolve(
        self, profile: IdentityProfile, linked: list[str]
    ) -> tuple[User, bool]:
        """The user of ``profile`` (found or created); ``linked`` gains the
        provider of each identity this login linked to an existing user."""
        repo = self.user_repository
        raw = profile.identity
        if profile.identity_lookup_failed:
            logger.warning(
                "identity lookup failed; resolving by the %s alias only",
                profile.alias.provider,
            )
            raw = None
        if raw == profile.alias:
            raw = None
        if raw is not None:
            found = repo.find_by_identity(raw)
            if found is not None:
                recorded = (found.oauth_provider, found.oauth_provider_sub)
                if not found.disabled and recorded != (raw.provider, raw.subject):
                    # A link whose user update failed (a crash, a throttle) is
                    # finished by the next login; the call is idempotent.
                    found = repo.link_identity(found.user_id, raw)
                return self._with_alias(found, profile, linked), False
        by_alias = repo.find_by_identity(profile.alias)
        if by_alias is not None:
            if raw is not None and not by_alias.disabled:
                user = repo.link_identity(by_alias.user_id, raw)
                if user.user_id == by_alias.user_id:
                    _linked(user.user_id, raw, linked)
                return user, False
            return by_alias, False
        now = math.floor(self.clock.now())
        identities: list[Identity] = (
            [profile.alias] if raw is None else [raw, profile.alias]
        )
        return repo.create(User.new(self.new_user_id(), profile, now), identities)

    def _with_alias(
        self, user: User, profile: IdentityProfile, linked: list[str]
    ) -> User:
        """A user found by its raw identity also holds the WorkOS alias, so that
        a later login whose identities lookup fails still finds it (users
        migrated with only a raw identity gain it here)."""
        workos_user_id = profile.workos_user_id
        if workos_user_id is None or user.workos_user_id == workos_user_id:
            return user
        if user.disabled:
            return user
        owner = self.user_repository.link_identity(
            user.user_id, profile.alias, primary=False
        )
        if owner.user_id != user.user_id:
            # The alias belongs to another user: the raw identity wins.
            audit(
                "identity.conflict",
                level=logging.ERROR,
                user_id=user.user_id,
                other_user_id=owner.user_id,
                provider=profile.alias.provider,
            )
            return user
        _linked(owner.user_id, profile.alias, linked)
        return owner


@attrs.frozen
class AuthorizationUrl:
    """``authorization_url(AuthorizationRequest(...)) -> str``: where to send
    the browser, at the provider the request names
    (``identity_providers[request.provider]``) or at ``identity_provider``
    (the default one) when it names none.

    Raises:
        NotConfigured: no identity provider is configured.
        InvalidRequest: a provider that is not configured, or a hint the
            provider cannot take.
        IdPError, IdPUnavailable: a provider that reads its endpoints from
            a discovery document could not be asked.
    """

    identity_provider: IdentityProvider | None
    identity_providers: Mapping[str, IdentityProvider] = attrs.field(factory=dict)

    def __call__(self, request: AuthorizationRequest) -> str:
        idp = pick_identity_provider(
            self.identity_provider,
            self.identity_providers,
            request.provider,
            InvalidRequest,
        )
        return idp.authorization_url(request)


@attrs.frozen
class SignOutEverywhere:
    """``sign_out_everywhere(user_id) -> User``: revoke every token issued so far.

    Adds one to the user's ``token_generation`` (atomically, in the store):
    every token minted before carries a lower ``gen``. The next login mints
    with the new generation. Also records ``tokens_valid_after = floor(now)``.

    Raises:
        UnknownUser: no such user.
        StoreUnavailable: the user store could not be written.
    """

    user_repository: UserRepository
    clock: Clock

    def __call__(self, user_id: str) -> User:
        now = math.floor(self.clock.now())
        user = self.user_repository.revoke_tokens(user_id, now)
        audit(
            "user.signed_out", user_id=user_id, token_generation=user.token_generation
        )
        return user


@attrs.frozen
class SetUserDisabled:
    """Disable (also signing out everywhere) or enable a user: an operator's act.

    Raises:
        UnknownUser: no such user.
        StoreUnavailable: the user store could not be written.
    """

    user_repository: UserRepository
    clock: Clock

    def __call__(self, user_id: str, disabled: bool) -> User:
        if disabled:
            SignOutEverywhere(self.user_repository, self.clock)(user_id)
        user = self.user_repository.set_disabled(user_id, disabled)
        audit("user.disabled" if disabled else "user.enabled", user_id=user_id)
        return user
