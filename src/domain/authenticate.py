"""The request path: the ``Authenticate`` use case and the revocation rules.

With the user cache on, an answer is remembered per token (``answers``) for as
long as both things it was made from stay as they were: the token passes its
time rules (``acceptable_between`` of the very signer that verified it, so a
swapped signer or key ring verifies again) and the user record is the
one the user cache still holds and would reuse (its ``lease``: the same entry,
which a write made through the cache, a newer read or an eviction replaces,
read at most the cache's TTL ago). A warm request is then one lookup instead
of the token cache, the user cache and the revocation checks, and sees a
sign-out, a disabling or an edit exactly when the user cache would. Refusals
are never remembered.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import TypeGuard

import attrs

from .audit import audit
from .bearer import MAX_HEADER_BYTES, is_b64token, parse_authorization_header
from .errors import AuthError, TokenRevoked, UnknownUser, UserDisabled
from .model import AuthenticatedUser, TokenClaims, User
from .ports import AnswerMemory, CachedUsers, Clock, TokenSigner, UserRepository

logger = logging.getLogger("wikibot_auth")


def check_user(user: User | None, claims: TokenClaims) -> AuthenticatedUser:
    """The revocation rules, applied to whichever record is at hand: a token
    whose ``gen`` is below the record's ``token_generation`` is revoked; one
    minted before the counter (no ``gen``) counts as generation 0 and keeps
    the rule it was minted under (``iat < tokens_valid_after``).

    Raises:
        UnknownUser, UserDisabled, TokenRevoked
    """
    if user is None:
        raise UnknownUser()
    if user.disabled:
        raise UserDisabled()
    if claims.gen is None:
        revoked = user.token_generation > 0 or claims.iat < user.tokens_valid_after
    else:
        revoked = claims.gen < user.token_generation
    if revoked:
        raise TokenRevoked()
    return AuthenticatedUser.from_user(user)


def _needs_a_clock(
    instance: Authenticate,
    attribute: attrs.Attribute[AnswerMemory | None],
    value: AnswerMemory | None,
) -> None:
    if value is not None and instance.clock is None:
        raise ValueError("remembered answers need the clock")


@attrs.frozen
class Authenticate:
    """The request path: ``authenticate(authorization_header) -> AuthenticatedUser``.

    ``authenticate(header)`` and ``.token(token)`` (a bare token, e.g. from the
    token cookie) block on the user store when they must; ``await
    .acall(header)`` and ``await .atoken(token)`` verify inline (CPU only), ask
    ``cached_users`` inline, and read the store in a worker thread only on a
    miss. ``answers`` (with ``cached_users`` and ``clock``) remembers answers
    by token while the caches they came from would answer the same (see the
    module). A refusal of a valid token's user carries the token's ``sub`` as
    the error's ``subject``.

    Raises:
        MissingToken, InvalidRequest: the header is absent or malformed.
        InvalidToken, TokenExpired, TokenRevoked: the token is not acceptable.
        UnknownUser, UserDisabled: the token names no usable user.
        StoreUnavailable: the user store could not be read.
    """

    token_signer: TokenSigner
    user_repository: UserRepository
    cached_users: CachedUsers | None = None
    answers: AnswerMemory | None = attrs.field(default=None, validator=_needs_a_clock)
    clock: Clock | None = None

    def __call__(self, authorization_header: str | None) -> AuthenticatedUser:
        answers = self.answers
        if answers is None:
            return self._answer(parse_authorization_header(authorization_header), True)
        if _usual(authorization_header):
            answer = self._recalled(answers, authorization_header[7:])
            if answer is not None:
                return answer
            return self._answer(parse_authorization_header(authorization_header), True)
        return self.token(parse_authorization_header(authorization_header))

    def token(self, token: str) -> AuthenticatedUser:
        answers = self.answers
        if answers is not None:
            answer = self._recalled(answers, token)
            if answer is not None:
                return answer
        return self._answer(token)

    async def acall(self, authorization_header: str | None) -> AuthenticatedUser:
        answers = self.answers
        if answers is None:
            token = parse_authorization_header(authorization_header)
            return await self._aanswer(token, True)
        if _usual(authorization_header):
            answer = self._recalled(answers, authorization_header[7:])
            if answer is not None:
                return answer
            token = parse_authorization_header(authorization_header)
            return await self._aanswer(token, True)
        return await self.atoken(parse_authorization_header(authorization_header))

    async def atoken(self, token: str) -> AuthenticatedUser:
        answers = self.answers
        if answers is not None:
            answer = self._recalled(answers, token)
            if answer is not None:
                return answer
        return await self._aanswer(token)

    def _answer(self, token: str, parsed: bool = False) -> AuthenticatedUser:
        try:  # self._verify, inline
            claims = self.token_signer.validate_token(token)
        except AuthError as exc:
            _log_rejection(token, exc)
            raise
        try:
            answer = check_user(self.user_repository.get(claims.sub), claims)
        except AuthError as exc:  # not a context manager: the path of every miss
            _refused(token, claims, exc)
            raise
        if self.answers is not None:
            self._remember(self.answers, token, claims, answer, parsed)
        return answer

    async def _aanswer(self, token: str, parsed: bool = False) -> AuthenticatedUser:
        claims = self._verify(token)
        try:
            cached = self.cached_users
            user = None if cached is None else cached.peek(claims.sub)
            if user is None:
                user = await asyncio.to_thread(self.user_repository.get, claims.sub)
            answer = check_user(user, claims)
        except AuthError as exc:
            _refused(token, claims, exc)
            raise
        if self.answers is not None:
            self._remember(self.answers, token, claims, answer, parsed)
        return answer

    def _verify(self, token: str) -> TokenClaims:
        try:
            return self.token_signer.validate_token(token)
        except AuthError as exc:
            _log_rejection(token, exc)
            raise

    def _recalled(self, answers: AnswerMemory, token: str) -> AuthenticatedUser | None:
        if type(token) is not str:  # anything else is refused by the signer
            return None
        entry = answers.get(token)
        if entry is None:
            return None
        answer, signer, source, user_id, held, start, end = entry
        if signer is not self.token_signer or source is not self.cached_users:
            return None  # made by another signer or over another user memory
        if not source.holds(user_id, held):
            return None
        clock = self.clock
        if clock is not None and start <= clock.now() < end:
            return answer
        return None

    def _remember(
        self,
        answers: AnswerMemory,
        token: str,
        claims: TokenClaims,
        answer: AuthenticatedUser,
        parsed: bool,
    ) -> None:
        # Only b64tokens (parsed from a header, or checked here): answering
        # "Bearer <token>" before parsing relies on it.
        cached = self.cached_users
        if cached is None or type(token) is not str:
            return
        if not parsed and not is_b64token(token):
            return
        # The record the answer was made from must be the one the user cache
        # holds now; the answer lives while that entry does (a write through
        # the cache, a newer read or an eviction ends it) and within its TTL.
        lease = cached.lease(claims.sub)
        if lease is None or lease[0] is not answer.record:
            return
        _, read_at, reused_until, held = lease
        start, end = self.token_signer.acceptable_between(claims)
        start, end = max(start, read_at), min(end, reused_until)
        if start < end:
            signer = self.token_signer
            answers.put(token, (answer, signer, cached, claims.sub, held, start, end))


def _usual(header: str | None) -> TypeGuard[str]:
    """``Bearer <token>`` as nearly every client writes it, within the length
    limit: only b64tokens are remembered, so when the token is remembered,
    parsing this header would give it."""
    return (
        type(header) is str
        and len(header) <= MAX_HEADER_BYTES
        and header.startswith("Bearer ")
    )


def _refused(token: str, claims: TokenClaims, exc: AuthError) -> None:
    exc.subject = claims.sub
    _log_rejection(token, exc)


def _log_rejection(token: str, exc: AuthError) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        audit(
            "token.rejected",
            level=logging.DEBUG,
            code=exc.code,
            token_sha256_8=digest[:8],
        )
