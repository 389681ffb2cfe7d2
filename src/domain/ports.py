"""The ports: what the domain needs from the outside world, by role.

Adapters satisfy these protocols structurally; none inherits from them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .model import (
    AuthenticatedUser,
    AuthorizationRequest,
    Identity,
    IdentityProfile,
    LoginCallback,
    TokenClaims,
    User,
    UserPage,
    UserWithIdentities,
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

    def acceptable_between(self, claims: TokenClaims) -> tuple[float, float]:
        """``(start, end)``: ``validate_token`` of the token that verified to
        ``claims`` passes its time rules at every instant ``t`` with
        ``start <= t < end``. Inside the exact bounds, so that no rounding
        matters; it may be empty."""
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


class IdentityDirectory(Protocol):
    """An identity provider's directory of accounts, asked outside any login:
    which raw identity an account holds (the WorkOS identities API). Only the
    migration's backfill uses it; ``IdentityProvider`` stays login-only."""

    def get_provider_sub(self, user_id: str) -> Identity | None:
        """The normalized raw ``(provider, subject)`` identity of the account
        ``user_id``, or None when it holds none.

        Raises:
            InvalidRequest: ``user_id`` is not an account id of this provider.
            IdPError: the provider answered with an error or nonsense.
            IdPUnavailable: the provider could not be reached, or is rate
                limiting us (``retry_after``).
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

    # -- what the operator's tools need (leaving WorkOS): every identity of a
    # user, a walk over every user, and moving identities between users.

    def get_with_identities(self, user_id: str) -> UserWithIdentities | None:
        """The user and every identity that maps to it, or None."""
        ...

    def scan_users(self, cursor: str | None, limit: int) -> UserPage:
        """One page of a walk over every user, each with its identities.

        Start with ``cursor=None`` and pass each page's ``next_cursor`` until
        it is None. A page holds at most ``limit`` users, and may hold fewer
        (even none) before the end. A user that exists throughout the walk is
        returned exactly once; one created or removed meanwhile may or may not
        be. The cursor is opaque, and good for this store only.

        Raises:
            ValueError: ``limit`` is below 1, or the cursor is not this store's.
        """
        ...

    def unlink_identity(self, user_id: str, identity: Identity) -> User:
        """Remove ``identity``'s mapping if it maps to ``user_id`` (a
        conditional write). A recorded primary or ``workos_user_id`` that was
        this identity then names the best remaining one (``linking.
        recorded_after_unlink``). Whether a user may lose its last identity is
        the caller's rule, not the store's.

        Raises:
            UnknownUser: no such user.
            OperationRefused: the identity does not map to ``user_id``
                (nothing is written).
        """
        ...

    def move_identity(
        self, identity: Identity, from_user_id: str, to_user_id: str
    ) -> User | None:
        """Re-point ``identity`` from ``from_user_id`` to ``to_user_id`` (a
        conditional write on its mapping to ``from_user_id``: it never maps to
        nobody on the way). Only ``updated_at`` of the records changes; the
        caller links it on the target to record it there.

        Returns the user the identity maps to afterwards: the target when it
        moved (or was there already), another user when it maps to one, None
        when it maps to none (then nothing is written).

        Raises:
            UnknownUser: ``to_user_id`` does not exist.
        """
        ...

    def mark_merged(self, user_id: str, into_user_id: str) -> User:
        """Record that ``user_id`` was merged into ``into_user_id``: set
        ``merged_into`` and disable it, in one write; never delete it."""
        ...


class CachedUsers(Protocol):
    """A memory of user records that answers without blocking (the user
    cache); the async request path asks it before reading the store in a
    worker thread."""

    def peek(self, user_id: str) -> User | None:
        """The remembered record, or None on a miss (not an absence)."""
        ...

    def lease(self, user_id: str) -> UserLease | None:
        """``(record, start, end, entry)``: the remembered record, the instants
        between which it is reused (``start <= t < end``) and the entry that
        holds it; None on a miss."""
        ...

    def holds(self, user_id: str, entry: object) -> bool:
        """Whether ``entry`` (from ``lease``) still holds ``user_id``'s record:
        a write made through this memory, a newer read or an eviction ends it."""
        ...


UserLease = tuple[User, float, float, object]

# An answer of ``authenticate`` and what it stays right under: the signer that
# verified the token, the user memory and the entry (``CachedUsers.lease``) its
# record came from, under the user id it was asked for, and the instants
# between which both the token and that record are still accepted as they were.
RememberedAnswer = tuple[
    AuthenticatedUser, TokenSigner, CachedUsers, str, object, float, float
]


class AnswerMemory(Protocol):
    """A bounded memory of ``authenticate``'s answers by token (the user cache
    on): a warm request is one lookup."""

    def get(self, token: str) -> RememberedAnswer | None: ...

    def put(self, token: str, answer: RememberedAnswer) -> None: ...
