from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, settings

from wikibot_auth.adapters.key_files import generate_private_key, write_private_key
from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.memory import (
    FixedClock,
    InMemoryUserRepository,
    ScriptedIdentityProvider,
)
from wikibot_auth.adapters.rs256 import RS256TokenSigner
from wikibot_auth.domain.model import Identity, IdentityProfile
from wikibot_auth.domain.pkce import code_challenge_s256, new_code_verifier
from wikibot_auth.domain.use_cases import (
    Authenticate,
    ExchangeAuthCode,
    SignOutEverywhere,
)

settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")

NOW = 1_700_000_000.0
GOOGLE = Identity("google", "1234567890")


@pytest.fixture(scope="session")
def private_key() -> rsa.RSAPrivateKey:
    return generate_private_key()


@pytest.fixture(scope="session")
def other_key() -> rsa.RSAPrivateKey:
    return generate_private_key()


@pytest.fixture(scope="session")
def key_file(
    private_key: rsa.RSAPrivateKey, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("keys") / "signing.pem"
    write_private_key(path, private_key)
    return path


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


class Sleeps(list[float]):
    """A ``sleep`` that records the seconds it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def signer(private_key: rsa.RSAPrivateKey, clock: FixedClock) -> RS256TokenSigner:
    return RS256TokenSigner(KeyRing.of_private_key(private_key), clock)


@pytest.fixture
def repo() -> InMemoryUserRepository:
    return InMemoryUserRepository()


@pytest.fixture
def idp() -> ScriptedIdentityProvider:
    return ScriptedIdentityProvider()


@pytest.fixture
def authenticate(
    signer: RS256TokenSigner, repo: InMemoryUserRepository
) -> Authenticate:
    return Authenticate(signer, repo)


@pytest.fixture
def exchange(
    idp: ScriptedIdentityProvider,
    repo: InMemoryUserRepository,
    signer: RS256TokenSigner,
    clock: FixedClock,
) -> ExchangeAuthCode:
    return ExchangeAuthCode(idp, repo, signer, clock)


@pytest.fixture
def sign_out(repo: InMemoryUserRepository, clock: FixedClock) -> SignOutEverywhere:
    return SignOutEverywhere(repo, clock)


def workos_profile(
    workos_id: str = "user_01ABC",
    email: str = "ada@example.com",
    first_name: str | None = "Ada",
    last_name: str | None = "Lovelace",
    identity: Identity | None = GOOGLE,
    identity_lookup_failed: bool = False,
) -> IdentityProfile:
    return IdentityProfile(
        alias=Identity.workos(workos_id),
        email=email,
        first_name=first_name,
        last_name=last_name,
        identity=None if identity_lookup_failed else identity,
        identity_lookup_failed=identity_lookup_failed,
    )


LoginAs = Callable[..., object]


@pytest.fixture
def login(idp: ScriptedIdentityProvider, exchange: ExchangeAuthCode) -> LoginAs:
    """Script a code for ``profile`` and exchange it, as a callback would."""
    counter = iter(range(1_000_000))

    def run(profile: IdentityProfile | Exception) -> object:
        verifier = new_code_verifier()
        code = f"code-{next(counter)}"
        idp.script(code, profile, code_challenge=code_challenge_s256(verifier))  # type: ignore[arg-type]
        return exchange(code, verifier)

    return run
