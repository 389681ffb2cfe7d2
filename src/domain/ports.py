"""The ports: what the domain needs from the outside world, by role.

Adapters satisfy these protocols structurally; none inherits from them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .model import (
    AuthorizationRequest,
    Identity,
    IdentityProfile,
    LoginCallback,
    TokenClaims,
    User,
)


class Clock(Protocol):
    """Wall-clock time in seconds since the epoch."""

    def now(self) -> float: ...


class TokenSigner(Protocol):
    """Mints and verifies platform tokens."""

    @property
    def token_ttl(self) -> int:
        """Lifetime of the tokens ``create_token`` mints, in seconds."""
        ...

    def create_token(self, subject: str, *, generation: int = 0) -> str:
        """Mint a token for ``subject`` carrying ``generation`` as ``gen``.

        Raises:
            NotConfigured: there is no signing key (a verify-only key ring).
        """
        ...

    def validate_token(self, token: str) -> TokenClaims:
        """Verify signature, algorithm, issuer, audience and time claims.

        Raises:
            TokenExpired: ``exp`` has passed (beyond the leeway).
            InvalidToken: anything else is wrong with the token.
        """
        ...

    def jwks(self) -> Mapping[str, Any]:
        """The public verification keys as a JWK Set."""
        ...


class IdentityProvider(Protocol):
    """An OAuth identity provider reached at login only, never per request."""

    def authorization_url(self, request: AuthorizationRequest) -> str:
        """Where to send the browser to log in (PKCE S256).

        Raises:
            InvalidRequest: a hint the provider cannot take (or, for OpenID
                Connect, no ``nonce``).
            NotConfigured: no redirect URI is known.
            IdPError, IdPUnavailable: a provider whose endpoints are read
                from its discovery document could not be asked.
        """
        ...

    def exchange_code(self, callback: LoginCallback) -> IdentityProfile:
        """Trade a single-use authorization code for the person's profile.

        A direct provider (OpenID Connect, GitHub) has no alias: its profile's
        ``alias`` is its identity ``(<provider name>, <subject>)`` and
        ``identity`` is None, so the login resolves by that identity alone.

        Raises:
            InvalidCallback: the callback is not this provider's answer to
                this login (RFC 9207 ``iss``), or it kept no ``nonce``.
            LoginFailed: the code is expired, reused or does not match the
                verifier, or was issued to another login (``nonce``).
            LoginStepRequired: the provider needs another step first.
            IdPError: the provider answered with an error or nonsense.
            IdPUnavailable: the provider could not be reached in time.
            NotConfigured: we cannot talk to it as configured.
        """
        ...


class UserRepository(Protocol):
    """Users and the identities that map to them.

    An identity maps to exactly one user under any concurrency. Every method may
    raise ``StoreUnavailable``; the updating methods raise ``UnknownUser`` for a
    missing user, never create a half-written one, and set ``updated_at``.
    """

    def get(self, user_id: str) -> User | None: ...

    def find_by_identity(self, identity: Identity) -> User | None: ...

    def create(self, user: User, identities: Sequence[Identity]) -> tuple[User, bool]:
        """Store ``user`` holding ``identities`` unless one of them is taken.

        Returns ``(user, True)`` when this call created it, or ``(winner, False)``
        when a concurrent writer claimed the first identity first.
        """
        ...

    def link_identity(
        self, user_id: str, identity: Identity, *, primary: bool = True
    ) -> User:
        """Map ``identity`` to ``user_id`` (a conditional write).

        ``primary`` records it as the user's ``oauth_provider``/``oauth_provider_sub``;
        a ``workos`` identity is also recorded as ``workos_user_id``. Returns the
        user the identity maps to afterwards, which is another user when that
        one claimed it first (then nothing is written).
        """
        ...

    def update_profile(self, user_id: str, changes: Mapping[str, str]) -> User:
        """Set only the changed ``email``/``display_name`` attributes."""
        ...

    def revoke_tokens(self, user_id: str, now: int) -> User:
        """Sign out everywhere: add one to ``token_generation`` atomically (two
        racing calls both count) and record ``tokens_valid_after = now``."""
        ...

    def set_disabled(self, user_id: str, disabled: bool) -> User: ...


class CachedUsers(Protocol):
    """A memory of user records that answers without blocking (the user
    cache); the async request path asks it before reading the store in a
    worker thread."""

    def peek(self, user_id: str) -> User | None:
        """The remembered record, or None on a miss (not an absence)."""
        ...
