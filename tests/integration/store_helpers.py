"""Helpers for the user store contract suite and benchmarks: stores built from a
picklable spec (so that worker processes can open the same store), a login that
runs the real ``ExchangeAuthCode`` use case, and the race workers."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from wikibot_auth.adapters.dynamodb import DynamoDBUserRepository, make_dynamodb_client
from wikibot_auth.adapters.memory import FixedClock
from wikibot_auth.adapters.sqlite import SQLiteUserRepository
from wikibot_auth.domain.model import IdentityProfile, LoginResult
from wikibot_auth.domain.use_cases import ExchangeAuthCode

VERIFIER = "v" * 43

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-do-not-log",
    "AWS_SESSION_TOKEN": "testing-session",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class NullSigner:
    """A ``TokenSigner`` that signs nothing: the store is under test here."""

    token_ttl = 60

    def create_token(self, subject: str, *, generation: int = 0) -> str:
        return f"token-for-{subject}"

    def validate_token(self, token: str) -> Any:
        raise NotImplementedError

    def jwks(self) -> Mapping[str, Any]:
        return {"keys": []}


class FixedIdP:
    """An ``IdentityProvider`` whose every code logs in ``profile``."""

    def __init__(self, profile: IdentityProfile) -> None:
        self.profile = profile

    def authorization_url(self, **kwargs: Any) -> str:
        return "https://idp.invalid/authorize"

    def exchange_code(self, code: str, code_verifier: str) -> IdentityProfile:
        return self.profile


def login(
    repo: Any, profile: IdentityProfile, now: float = 1_700_000_000
) -> LoginResult:
    """One login of ``profile`` through the real use case."""
    exchange = ExchangeAuthCode(FixedIdP(profile), repo, NullSigner(), FixedClock(now))  # type: ignore[arg-type]
    return exchange("code", VERIFIER)


def open_store(spec: tuple[str, ...]) -> Any:
    """``("sqlite", path)`` or ``("dynamodb", endpoint, table)``."""
    if spec[0] == "sqlite":
        return SQLiteUserRepository(spec[1])
    if spec[0] == "dynamodb":
        os.environ.update(AWS_TEST_ENV)
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = spec[1]
        return DynamoDBUserRepository(make_dynamodb_client(), spec[2])
    raise ValueError(spec[0])


def race_worker(spec: tuple[str, ...], barrier: Any, tasks: Any, results: Any) -> None:
    """A process that logs in the profile of each task as soon as every worker
    is ready (the barrier), and reports the user id it got."""
    repo = open_store(spec)
    while True:
        profile = tasks.get()
        if profile is None:
            return
        barrier.wait()
        try:
            results.put(login(repo, profile).user.user_id)
        except Exception as exc:
            results.put(f"error: {type(exc).__name__}: {exc}")
