"""The use cases: each a frozen callable whose fields are ports."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable

import attrs

from .bearer import parse_authorization_header
from .errors import (
    AuthError,
    InternalError,
    InvalidCallback,
    NotConfigured,
    TokenRevoked,
    UnknownUser,
    UserDisabled,
)
from .model import (
    AuthenticatedUser,
    Identity,
    IdentityProfile,
    LoginResult,
    TokenClaims,
    User,
    is_valid_code_verifier,
    new_user_id,
)
from .ports import Clock, IdentityProvider, TokenSigner, UserRepository

logger = logging.getLogger("wikibot_auth")

MAX_CODE_LENGTH = 2048


def check_user(user: User | None, issued_at: int) -> AuthenticatedUser:
    """The revocation rules, applied to whichever record is at hand.

    Raises:
        UnknownUser, UserDisabled, TokenRevoked
    """
    if user is None:
        raise UnknownUser()
    if user.disabled:
        raise UserDisabled()
    if issued_at < user.tokens_valid_after:
        raise TokenRevoked()
    return AuthenticatedUser.from_user(user)


@attrs.frozen
class Authenticate:
    """``authenticate(authorization_header) -> AuthenticatedUser``.

    Raises:
        MissingToken, InvalidRequest: the header is absent or malformed.
        InvalidToken, TokenExpired, TokenRevoked: the token is not acceptable.
        UnknownUser, UserDisabled: the token names no usable user.
        StoreUnavailable: the user store could not be read.
    """

    token_signer: TokenSigner
    user_repository: UserRepository

    def __call__(self, authorization_header: str | None) -> AuthenticatedUser:
        return self.token(parse_authorization_header(authorization_header))

    def token(self, token: str) -> AuthenticatedUser:
        """Authenticate a bare token (e.g. one read from the token cookie)."""
        claims = self.verify_token(token)
        try:
            return self.user_for(claims)
        except AuthError as exc:
            _log_rejection(token, exc)
            raise

    # The steps, for async callers that keep blocking I/O off the event loop:
    # verify inline (CPU only), try ``cached_user_for`` inline, and run
    # ``user_for`` (a store read) in a thread only on a miss.

    def verify(self, authorization_header: str | None) -> TokenClaims:
        """Parse the header and verify the token: CPU only, no I/O."""
        return self.verify_token(parse_authorization_header(authorization_header))

    def verify_token(self, token: str) -> TokenClaims:
        try:
            return self.token_signer.validate_token(token)
        except AuthError as exc:
            _log_rejection(token, exc)
            raise

    def user_for(self, claims: TokenClaims) -> AuthenticatedUser:
        """Load the user named by verified claims and apply the revocation
        rules. May block on the user store."""
        return check_user(self.user_repository.get(claims.sub), claims.iat)

    def cached_user_for(self, claims: TokenClaims) -> AuthenticatedUser | None:
        """Like ``user_for`` when the store can answer from memory; None on a
        miss. Never blocks."""
        user = self.user_repository.get_cached(claims.sub)
        return None if user is None else check_user(user, claims.iat)


def _log_rejection(token: str, exc: AuthError) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        logger.debug("token rejected: code=%s sha256=%s", exc.code, digest[:8])


@attrs.frozen
class ExchangeAuthCode:
    """``exchange_auth_code(code, code_verifier) -> LoginResult``.

    IdP code exchange, identity resolution (one person never becomes two
    users), profile sync, then a platform token.

    Raises:
        NotConfigured: no identity provider is configured.
        InvalidCallback: the code or PKCE verifier is malformed.
        LoginFailed, LoginStepRequired, IdPError, IdPUnavailable: from the IdP.
        UserDisabled: the user exists and is disabled.
        StoreUnavailable: the user store could not be used.
    """

    identity_provider: IdentityProvider | None
    user_repository: UserRepository
    token_signer: TokenSigner
    clock: Clock
    new_user_id: Callable[[], str] = new_user_id

    def __call__(self, code: str, code_verifier: str) -> LoginResult:
        try:
            result = self._login(code, code_verifier)
        except AuthError as exc:
            logger.info("login failed: code=%s", exc.code)
            raise
        logger.info(
            "login succeeded: user_id=%s provider=%s created=%s",
            result.user.user_id,
            result.user.record.oauth_provider,
            result.created,
        )
        return result

    def _login(self, code: str, code_verifier: str) -> LoginResult:
        if self.identity_provider is None:
            raise NotConfigured("no identity provider is configured")
        if not isinstance(code, str) or not code or len(code) > MAX_CODE_LENGTH:
            raise InvalidCallback("the authorization code is missing or malformed")
        if not is_valid_code_verifier(code_verifier):
            raise InvalidCallback("the PKCE code verifier is missing or malformed")
        profile = self.identity_provider.exchange_code(code, code_verifier)
        user, created = self._resolve(profile)
        if user.disabled:
            raise UserDisabled()
        changes = user.profile_changes(profile)
        if changes and not created:
            user = self.user_repository.update_profile(user.user_id, changes)
        token = self.token_signer.create_token(
            user.user_id, min_issued_at=user.tokens_valid_after
        )
        return LoginResult(
            token=token,
            expires_in=self.token_signer.token_ttl,
            user=AuthenticatedUser.from_user(user),
            created=created,
        )

    def _resolve(self, profile: IdentityProfile) -> tuple[User, bool]:
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
                return self._with_alias(found, profile), False
        by_alias = repo.find_by_identity(profile.alias)
        if by_alias is not None:
            if raw is not None and not by_alias.disabled:
                return repo.link_identity(by_alias.user_id, raw), False
            return by_alias, False
        now = math.floor(self.clock.now())
        identities: list[Identity] = (
            [profile.alias] if raw is None else [raw, profile.alias]
        )
        return repo.create(User.new(self.new_user_id(), profile, now), identities)

    def _with_alias(self, user: User, profile: IdentityProfile) -> User:
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
            logger.error(
                "identity conflict: the %s alias belongs to user_id=%s, the raw "
                "identity to user_id=%s; resolving by the raw identity",
                profile.alias.provider,
                owner.user_id,
                user.user_id,
            )
            return user
        return owner


@attrs.frozen
class AuthorizationUrl:
    """``authorization_url(state, code_challenge, ...) -> str``.

    Raises:
        NotConfigured: no identity provider is configured.
    """

    identity_provider: IdentityProvider | None

    def __call__(
        self,
        state: str,
        code_challenge: str,
        *,
        redirect_uri: str | None = None,
        login_hint: str | None = None,
        screen_hint: str | None = None,
    ) -> str:
        if self.identity_provider is None:
            raise NotConfigured("no identity provider is configured")
        return self.identity_provider.authorization_url(
            state=state,
            code_challenge=code_challenge,
            redirect_uri=redirect_uri,
            login_hint=login_hint,
            screen_hint=screen_hint,
        )


@attrs.frozen
class SignOutEverywhere:
    """``sign_out_everywhere(user_id) -> User``: revoke every token issued so far.

    Sets ``tokens_valid_after = max(floor(now), tokens_valid_after) + 1``, so a
    token minted in this second is revoked and the next login is not; a second
    sign-out in the same second also revokes a login made between the two.

    Raises:
        UnknownUser: no such user.
        StoreUnavailable: the user store could not be written.
    """

    user_repository: UserRepository
    clock: Clock

    def __call__(self, user_id: str) -> User:
        now = math.floor(self.clock.now())
        try:
            current = self.user_repository.get(user_id)
        except InternalError:
            # An unreadable record (a non-numeric tokens_valid_after): the store
            # overwrites such a value, which is how a sign-out repairs it.
            valid_after = now + 1
        else:
            if current is None:
                raise UnknownUser()
            valid_after = max(now, current.tokens_valid_after) + 1
        user = self.user_repository.set_tokens_valid_after(user_id, valid_after)
        logger.info("signed out everywhere: user_id=%s", user_id)
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
            # Sign-out first: it also repairs an unreadable tokens_valid_after,
            # which would make the record (and so set_disabled's answer) fail.
            SignOutEverywhere(self.user_repository, self.clock)(user_id)
        user = self.user_repository.set_disabled(user_id, disabled)
        logger.info(
            "user %s: user_id=%s", "disabled" if disabled else "enabled", user_id
        )
        return user
