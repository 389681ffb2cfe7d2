"""wikibot-auth: the authentication core of the wikibot.io platform.

``import wikibot_auth`` stays light: the domain only. ``Container`` (and with it
boto3, httpx and PyJWT) is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .domain import (
    AuthenticatedUser,
    AuthError,
    CredentialsError,
    CsrfRejected,
    DependencyError,
    Identity,
    IdentityProfile,
    IdPError,
    IdPUnavailable,
    InternalError,
    InvalidCallback,
    InvalidRequest,
    InvalidToken,
    LoginError,
    LoginFailed,
    LoginResult,
    LoginStepRequired,
    MissingToken,
    NotConfigured,
    StoreUnavailable,
    TokenClaims,
    TokenExpired,
    TokenRevoked,
    UnknownUser,
    User,
    UserDisabled,
)

if TYPE_CHECKING:
    from .entrypoints.containers import Container

__all__ = [
    "AuthError",
    "AuthenticatedUser",
    "Container",
    "CredentialsError",
    "CsrfRejected",
    "DependencyError",
    "IdPError",
    "IdPUnavailable",
    "Identity",
    "IdentityProfile",
    "InternalError",
    "InvalidCallback",
    "InvalidRequest",
    "InvalidToken",
    "LoginError",
    "LoginFailed",
    "LoginResult",
    "LoginStepRequired",
    "MissingToken",
    "NotConfigured",
    "StoreUnavailable",
    "TokenClaims",
    "TokenExpired",
    "TokenRevoked",
    "UnknownUser",
    "User",
    "UserDisabled",
]


def __getattr__(name: str) -> Any:
    if name == "Container":
        from .entrypoints.containers import Container

        return Container
    raise AttributeError(f"module 'wikibot_auth' has no attribute {name!r}")
