"""Value objects of the domain: users, identities, claims and login results."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .errors import InternalError

LOCAL_PROVIDER = "local"
WORKOS_PROVIDER = "workos"
DEFAULT_TIER = "free"

_OAUTH_SUFFIX = "oauth"


def normalize_provider(raw: str) -> str:
    """``GoogleOAuth`` -> ``google``, ``GithubOAuth``/``GitHubOAuth`` -> ``github``."""
    name = raw.strip().lower()
    if name.endswith(_OAUTH_SUFFIX) and len(name) > len(_OAUTH_SUFFIX):
        name = name[: -len(_OAUTH_SUFFIX)]
    return name


def normalize_email(email: str) -> str:
    return email.strip().lower()


def display_name_for(first_name: str | None, last_name: str | None, email: str) -> str:
    """The non-null names joined by a space, else the email's local part."""
    name = " ".join(n.strip() for n in (first_name, last_name) if n and n.strip())
    return name or email.split("@", 1)[0]


def new_user_id() -> str:
    """A random, opaque platform user id."""
    return "usr_" + secrets.token_hex(16)


def _non_empty(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attribute.name} must be a non-empty string")


def _whole_seconds(value: Any) -> int:
    """Stores hand back Decimal or float; the domain keeps whole seconds."""
    if isinstance(value, bool):
        raise TypeError("a timestamp cannot be a bool")
    if isinstance(value, int):
        return value
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("a timestamp must be finite")
    return math.floor(number)


_PROVIDER_NAME = re.compile(r"[a-z0-9_\-]{1,64}")


def _provider_name(
    instance: object, attribute: attrs.Attribute[str], value: str
) -> None:
    # No "#": a store key ``<provider>#<subject>`` names one identity only.
    if not isinstance(value, str) or not _PROVIDER_NAME.fullmatch(value):
        raise ValueError(f"{attribute.name} must match [a-z0-9_-]{{1,64}}")


def seconds_or_zero(value: Any) -> int:
    """A stored timestamp in whole seconds, or 0 when it is not a number (an
    operator's edit gone wrong): read as absent."""
    try:
        return _whole_seconds(value)
    except (TypeError, ValueError, OverflowError):
        return 0


MAX_GENERATION = 2**53  # a JSON integer every reader handles exactly


def generation(value: Any) -> int:
    """A ``token_generation`` as stored (int, or DynamoDB's Decimal): a whole
    number in ``[0, 2**53)``, never a bool."""
    if isinstance(value, bool):
        raise TypeError("a token generation cannot be a bool")
    number = int(value)
    if number != value or not 0 <= number < MAX_GENERATION:
        raise ValueError("a token generation is a whole number in [0, 2**53)")
    return number


@attrs.frozen(order=True)
class Identity:
    """One account at one identity provider: ``(provider, subject)``; the
    provider name matches ``[a-z0-9_-]{1,64}``."""

    provider: str = attrs.field(validator=_provider_name)
    subject: str = attrs.field(validator=_non_empty)

    @classmethod
    def local(cls, email: str) -> Identity:
        return cls(LOCAL_PROVIDER, normalize_email(email))

    @classmethod
    def workos(cls, workos_user_id: str) -> Identity:
        return cls(WORKOS_PROVIDER, workos_user_id)

    @property
    def key(self) -> str:
        return f"{self.provider}#{self.subject}"


def link_changes(identity: Identity, *, primary: bool) -> dict[str, str]:
    """The user attributes that linking ``identity`` sets (see
    ``UserRepository.link_identity``)."""
    changes = {}
    if primary:
        changes["oauth_provider"] = identity.provider
        changes["oauth_provider_sub"] = identity.subject
    if identity.provider == WORKOS_PROVIDER:
        changes["workos_user_id"] = identity.subject
    return changes


@attrs.frozen
class IdentityProfile:
    """What an identity provider tells us about the person who just logged in.

    ``alias`` is the provider-scoped account (``("workos", <WorkOS user id>)``);
    ``identity`` is the raw upstream identity when the provider named one. A
    provider without aliases (local, OpenID Connect, GitHub) gives its identity
    as ``alias`` and no ``identity``.
    ``identity_lookup_failed`` is true when asking for the raw identity FAILED,
    as opposed to answering that there is none.
    """

    alias: Identity
    email: str
    first_name: str | None = None
    last_name: str | None = None
    identity: Identity | None = None
    identity_lookup_failed: bool = False
    email_verified: bool | None = None

    @property
    def display_name(self) -> str:
        return display_name_for(self.first_name, self.last_name, self.email)

    @property
    def workos_user_id(self) -> str | None:
        return self.alias.subject if self.alias.provider == WORKOS_PROVIDER else None

    @property
    def primary(self) -> Identity:
        """The identity recorded as ``oauth_provider``/``oauth_provider_sub``."""
        if self.identity is not None and not self.identity_lookup_failed:
            return self.identity
        return self.alias


@attrs.frozen
class User:
    """A platform user. ``user_id`` is random, opaque and never changes."""

    user_id: str = attrs.field(validator=_non_empty)
    email: str
    display_name: str
    oauth_provider: str
    oauth_provider_sub: str
    workos_user_id: str | None = None
    tier: str = DEFAULT_TIER
    disabled: bool = False
    created_at: int = attrs.field(default=0, converter=_whole_seconds)
    updated_at: int = attrs.field(default=0, converter=_whole_seconds)
    # Revocation (DESIGN "Users and identities"): a token whose ``gen`` is below
    # ``token_generation`` is revoked. ``tokens_valid_after`` is when the last
    # sign-out happened (informational) and the rule of tokens without ``gen``.
    token_generation: int = attrs.field(default=0, converter=generation)
    tokens_valid_after: int = attrs.field(default=0, converter=seconds_or_zero)
    # Set by ``users merge`` on the user merged away (which is also disabled,
    # never deleted): the user its identities moved to.
    merged_into: str | None = None

    @classmethod
    def new(cls, user_id: str, profile: IdentityProfile, now: int) -> User:
        primary = profile.primary
        return cls(
            user_id=user_id,
            email=profile.email,
            display_name=profile.display_name,
            oauth_provider=primary.provider,
            oauth_provider_sub=primary.subject,
            workos_user_id=profile.workos_user_id,
            created_at=now,
            updated_at=now,
        )

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> User:
        """Build from a stored record; unknown attributes are ignored.

        Raises:
            InternalError: a stored ``created_at``, ``updated_at`` or
                ``token_generation`` is not a number (a hand edit gone wrong):
                the record is refused rather than guessed at. A stored
                ``tokens_valid_after`` that is not a number is read as absent.
        """
        try:
            return cls._from_item(item)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InternalError(
                f"stored user record is unreadable ({type(exc).__name__})"
            ) from None

    @classmethod
    def _from_item(cls, item: Mapping[str, Any]) -> User:
        workos_user_id = item.get("workos_user_id")
        merged_into = item.get("merged_into")
        return cls(
            user_id=str(item["user_id"]),
            email=str(item.get("email", "")),
            display_name=str(item.get("display_name", "")),
            oauth_provider=str(item.get("oauth_provider", "")),
            oauth_provider_sub=str(item.get("oauth_provider_sub", "")),
            workos_user_id=None if workos_user_id is None else str(workos_user_id),
            tier=str(item.get("tier") or DEFAULT_TIER),
            disabled=bool(item.get("disabled", False)),
            created_at=item.get("created_at", 0),
            updated_at=item.get("updated_at", 0),
            token_generation=item.get("token_generation", 0),
            tokens_valid_after=item.get("tokens_valid_after", 0),
            merged_into=None if merged_into is None else str(merged_into),
        )

    def to_item(self) -> dict[str, Any]:
        """The record as plain values (None values left out)."""
        return {k: v for k, v in attrs.asdict(self).items() if v is not None}

    def profile_changes(self, profile: IdentityProfile) -> dict[str, str]:
        """The profile attributes that differ from what the IdP says now."""
        changes = {}
        if profile.email and profile.email != self.email:
            changes["email"] = profile.email
        display_name = profile.display_name  # computed: once
        if display_name and display_name != self.display_name:
            changes["display_name"] = display_name
        return changes


def _sorted_identities(identities: Iterable[Identity]) -> tuple[Identity, ...]:
    return tuple(sorted(set(identities)))


@attrs.frozen
class UserWithIdentities:
    """A user and every identity that maps to it (sorted, without repeats)."""

    user: User
    identities: tuple[Identity, ...] = attrs.field(converter=_sorted_identities)


def _users(users: Iterable[UserWithIdentities]) -> tuple[UserWithIdentities, ...]:
    return tuple(users)


@attrs.frozen
class UserPage:
    """One page of a walk over every user (``UserRepository.scan_users``):
    pass ``next_cursor`` for the next page; None means the walk is over."""

    users: tuple[UserWithIdentities, ...] = attrs.field(converter=_users)
    next_cursor: str | None = None


@attrs.frozen
class AuthorizationRequest:
    """What a login asks of an identity provider's authorize endpoint.

    ``state``, ``code_challenge`` (PKCE S256) and, for OpenID Connect,
    ``nonce`` travel in the signed login cookie too. ``provider`` names the
    configured identity provider to ask (None: the default one).
    """

    state: str = attrs.field(repr=False)
    code_challenge: str
    redirect_uri: str | None = None
    nonce: str | None = attrs.field(default=None, repr=False)
    login_hint: str | None = None
    screen_hint: str | None = None
    provider: str | None = None


@attrs.frozen
class LoginCallback:
    """What a login brings back from the identity provider: the single-use
    ``code`` and what the login cookie kept for it (PKCE verifier, ``nonce``,
    the redirect URI the code was issued for); ``iss`` when the callback
    carried one (RFC 9207); ``provider``, the configured identity provider the
    login went to (None: the default one): the code goes to that one only."""

    code: str = attrs.field(repr=False)
    code_verifier: str = attrs.field(repr=False)
    redirect_uri: str | None = None
    nonce: str | None = attrs.field(default=None, repr=False)
    iss: str | None = None
    provider: str | None = None


@attrs.frozen
class TokenClaims:
    """The verified claims of a platform token."""

    sub: str
    iss: str
    aud: str
    iat: int
    exp: int
    jti: str
    kid: str
    nbf: int | None = None
    # The user's token_generation at minting; None for tokens minted before
    # the counter (they keep the tokens_valid_after rule).
    gen: int | None = None


@attrs.frozen
class AuthenticatedUser:
    """Who made this request: the user and the record it was checked against."""

    user_id: str
    email: str
    display_name: str
    tier: str
    record: User

    @classmethod
    def from_user(cls, user: User) -> AuthenticatedUser:
        # Positional: keyword arguments cost 40% more, on every request.
        return cls(user.user_id, user.email, user.display_name, user.tier, user)

    def public_dict(self) -> dict[str, str]:
        """The user object every entrypoint answers with."""
        return {
            "user_id": self.user_id,
            "email": self.email,
            "display_name": self.display_name,
            "tier": self.tier,
        }


@attrs.frozen
class LoginResult:
    """A finished login: a platform token and the user it names."""

    token: str = attrs.field(repr=False)
    expires_in: int
    user: AuthenticatedUser
    created: bool


_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def is_valid_code_verifier(verifier: object) -> bool:
    """RFC 7636: 43 to 128 characters of ``[A-Za-z0-9-._~]``."""
    return isinstance(verifier, str) and _VERIFIER.fullmatch(verifier) is not None
