"""The ``IdentityProvider`` port for development and demos: no account anywhere.

The sign-in page (served by the web entrypoint) calls ``issue_code``; the code is
single-use, valid for a few minutes and bound to the PKCE challenge. Codes live in
this process's memory: the provider serves one process only.
"""

from __future__ import annotations

import re
import secrets
import threading
from urllib.parse import urlencode

from ..domain.errors import InvalidRequest, LoginFailed
from ..domain.model import (
    AuthorizationRequest,
    Identity,
    IdentityProfile,
    LoginCallback,
)
from ..domain.pkce import verifier_matches
from ..domain.ports import Clock

CODE_TTL = 300
MAX_PENDING_CODES = 10_000
MAX_EMAIL = 254
MAX_NAME = 200
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")


class LocalIdentityProvider:
    """A real, single-process identity provider whose identity is
    ``("local", email.strip().lower())``."""

    def __init__(
        self,
        clock: Clock,
        *,
        sign_in_url: str = "/auth/local/sign-in",
        code_ttl: int = CODE_TTL,
    ) -> None:
        self._clock = clock
        self._sign_in_url = sign_in_url
        self._code_ttl = code_ttl
        self._lock = threading.Lock()
        self._codes: dict[str, tuple[str, str, str, float]] = {}

    def authorization_url(self, request: AuthorizationRequest) -> str:
        params = {
            "state": request.state,
            "code_challenge": request.code_challenge,
            "code_challenge_method": "S256",
            "redirect_uri": request.redirect_uri,
            "login_hint": request.login_hint,
        }
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return f"{self._sign_in_url}?{query}"

    def issue_code(self, email: str, display_name: str, code_challenge: str) -> str:
        """A single-use code for this person, bound to the PKCE S256 challenge.

        Raises:
            InvalidRequest: the email, name or challenge is malformed.
        """
        email = email.strip()
        if len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email):
            raise InvalidRequest("a valid email address is needed")
        display_name = display_name.strip()
        if len(display_name) > MAX_NAME:
            raise InvalidRequest("the display name is too long")
        if not _CHALLENGE.fullmatch(code_challenge):
            raise InvalidRequest("an S256 code challenge is needed")
        code = secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._lock:
            self._purge(now)
            if len(self._codes) >= MAX_PENDING_CODES:
                # Anyone who can reach the page can ask for codes: the oldest
                # pending one goes, so a flood never locks the real user out.
                del self._codes[next(iter(self._codes))]
            self._codes[code] = (
                email,
                display_name,
                code_challenge,
                now + self._code_ttl,
            )
        return code

    def exchange_code(self, callback: LoginCallback) -> IdentityProfile:
        with self._lock:
            entry = self._codes.pop(callback.code, None)
        if entry is None:
            raise LoginFailed("unknown or already used code")
        email, display_name, challenge, expires_at = entry
        if self._clock.now() >= expires_at:
            raise LoginFailed("the code has expired")
        if not verifier_matches(callback.code_verifier, challenge):
            raise LoginFailed("the PKCE verifier does not match")
        return IdentityProfile(
            alias=Identity.local(email),
            email=email,
            first_name=display_name or None,
            email_verified=False,
        )

    def pending_codes(self) -> int:
        with self._lock:
            return len(self._codes)

    def _purge(self, now: float) -> None:
        expired = [c for c, entry in self._codes.items() if entry[3] <= now]
        for code in expired:
            del self._codes[code]
