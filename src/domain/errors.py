"""The one error family of wikibot-auth.

Every error carries a stable machine ``code``; ``entrypoints/wire.py`` maps codes
to HTTP answers and CLI exit codes. Messages are for logs and never contain a
token, an authorization code, a verifier, a key or a secret.

    AuthError
    ├── CredentialsError          the caller's credentials or request are bad
    │   ├── MissingToken          missing_token
    │   ├── InvalidRequest        invalid_request
    │   ├── InvalidToken          invalid_token
    │   │   ├── TokenExpired      token_expired
    │   │   └── TokenRevoked      token_revoked
    │   ├── UnknownUser           unknown_user
    │   ├── UserDisabled          user_disabled
    │   └── CsrfRejected          csrf_rejected
    ├── LoginError                the login did not complete
    │   ├── InvalidCallback       invalid_callback
    │   ├── LoginFailed           login_failed
    │   └── LoginStepRequired     login_step_required
    ├── DependencyError           a service we depend on is down or misbehaving
    │   ├── IdPError              idp_error
    │   ├── IdPUnavailable        idp_unavailable   (retry_after)
    │   ├── StoreUnavailable      store_unavailable (retry_after)
    │   └── SignerUnavailable     signer_unavailable (retry_after)
    ├── OperationRefused          operation_refused: an operator's act would
    │                             break an invariant of the stored users
    ├── NotConfigured             not_configured: we are misconfigured
    └── InternalError             internal_error

Programmer mistakes stay ``TypeError``/``ValueError``.
"""

from __future__ import annotations

from typing import ClassVar


class AuthError(Exception):
    """Root of every error this library raises on purpose."""

    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "authentication error"
    # The verified ``sub`` of the token whose user was refused (the Lambda
    # authorizer's Deny ``principalId``); None when no token verified.
    subject: str | None = None

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)

    @property
    def message(self) -> str:
        return str(self.args[0])


class CredentialsError(AuthError):
    """The caller's credentials or request are bad (a 4xx)."""


class MissingToken(CredentialsError):
    code = "missing_token"
    default_message = "no bearer token was sent"


class InvalidRequest(CredentialsError):
    code = "invalid_request"
    default_message = "the authorization request is malformed"


class InvalidToken(CredentialsError):
    code = "invalid_token"
    default_message = "the token is invalid"


class TokenExpired(InvalidToken):
    code = "token_expired"
    default_message = "the token has expired"


class TokenRevoked(InvalidToken):
    code = "token_revoked"
    default_message = "the token was revoked by a sign-out"


class UnknownUser(CredentialsError):
    code = "unknown_user"
    default_message = "the user does not exist"


class UserDisabled(CredentialsError):
    code = "user_disabled"
    default_message = "the user is disabled"


class CsrfRejected(CredentialsError):
    code = "csrf_rejected"
    default_message = "cookie-authenticated request without a matching Origin"


class LoginError(AuthError):
    """The login flow could not complete (a 4xx)."""


class InvalidCallback(LoginError):
    code = "invalid_callback"
    default_message = "the login callback is invalid or expired"


class LoginFailed(LoginError):
    code = "login_failed"
    default_message = "the identity provider refused the login"


class LoginStepRequired(LoginError):
    code = "login_step_required"
    default_message = "the identity provider requires another login step"

    def __init__(self, message: str | None = None, *, step: str | None = None) -> None:
        super().__init__(message)
        self.step = step


class DependencyError(AuthError):
    """A service we depend on is down or answered nonsense (a 5xx)."""

    def __init__(
        self, message: str | None = None, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IdPError(DependencyError):
    code = "idp_error"
    default_message = "the identity provider answered with an error"


class IdPUnavailable(DependencyError):
    code = "idp_unavailable"
    default_message = "the identity provider is unavailable"


class StoreUnavailable(DependencyError):
    code = "store_unavailable"
    default_message = "the user store is unavailable"


class SignerUnavailable(DependencyError):
    """The key service (AWS KMS) throttled, timed out or failed: no token can
    be signed now."""

    code = "signer_unavailable"
    default_message = "the key service is unavailable"


class OperationRefused(AuthError):
    """An operator's act (link, unlink, merge) would break an invariant of the
    stored users, so nothing was written. The message says why, naming user
    ids and provider names only (never a subject, which may be an email)."""

    code = "operation_refused"
    default_message = "the operation was refused"


class NotConfigured(AuthError):
    """We are misconfigured: a setting is missing or wrong."""

    code = "not_configured"
    default_message = "wikibot-auth is not configured for this operation"


class InternalError(AuthError):
    code = "internal_error"
    default_message = "internal error"
