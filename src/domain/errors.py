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
    """No bearer token came with the request (nor, where accepted, the token
    cookie), or another scheme did (``Basic ...``)."""

    code = "missing_token"
    default_message = "no bearer token was sent"


class InvalidRequest(CredentialsError):
    """A malformed request: an ``Authorization`` header off RFC 6750, a bad
    ``return_to``, an unknown provider, a malformed Lambda event."""

    code = "invalid_request"
    default_message = "the authorization request is malformed"


class InvalidToken(CredentialsError):
    """The token failed verification: its form, ``kid``, algorithm,
    signature, issuer, audience or time claims."""

    code = "invalid_token"
    default_message = "the token is invalid"


class TokenExpired(InvalidToken):
    """The token's ``exp`` has passed, beyond the leeway."""

    code = "token_expired"
    default_message = "the token has expired"


class TokenRevoked(InvalidToken):
    """A sign-out everywhere came after the token was minted: its ``gen``
    is below the user's ``token_generation``."""

    code = "token_revoked"
    default_message = "the token was revoked by a sign-out"


class UnknownUser(CredentialsError):
    """The token (or an operator) names a user the store does not hold."""

    code = "unknown_user"
    default_message = "the user does not exist"


class UserDisabled(CredentialsError):
    """An operator disabled the user (or merged it into another)."""

    code = "user_disabled"
    default_message = "the user is disabled"


class CsrfRejected(CredentialsError):
    """A cookie-authenticated unsafe request without a matching ``Origin``."""

    code = "csrf_rejected"
    default_message = "cookie-authenticated request without a matching Origin"


class LoginError(AuthError):
    """The login flow could not complete (a 4xx)."""


class InvalidCallback(LoginError):
    """The callback is malformed or belongs to no login in progress here (no
    or an expired login cookie, another ``state`` or provider)."""

    code = "invalid_callback"
    default_message = "the login callback is invalid or expired"


class LoginFailed(LoginError):
    """The identity provider refused the login (a code expired, reused, or
    not this login's: verifier, ``nonce``), or the callback carried ``error=``."""

    code = "login_failed"
    default_message = "the identity provider refused the login"


class LoginStepRequired(LoginError):
    """The identity provider needs another step first (``step``, e.g.
    ``email_verification_required``)."""

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
    """The identity provider answered with an error (a 5xx, a 401 on our key)
    or with a body of the wrong shape."""

    code = "idp_error"
    default_message = "the identity provider answered with an error"


class IdPUnavailable(DependencyError):
    """The identity provider timed out, could not be reached, or is rate
    limiting us (429: ``retry_after``)."""

    code = "idp_unavailable"
    default_message = "the identity provider is unavailable"


class StoreUnavailable(DependencyError):
    """The user store is down, throttled or missing its table."""

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
    """Anything unexpected (or a stored record that cannot be read): logged
    with a traceback, answered plainly."""

    code = "internal_error"
    default_message = "internal error"
