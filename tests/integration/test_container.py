"""The composition root built from environment variables."""

from __future__ import annotations

import stat

import pytest
from dependency_injector import providers

from tests.conftest import workos_profile
from tests.threads import run_together
from wikibot_auth.adapters.memory import FixedClock, ScriptedIdentityProvider
from wikibot_auth.domain.errors import NotConfigured
from wikibot_auth.domain.model import AuthorizationRequest
from wikibot_auth.domain.pkce import code_challenge_s256, new_code_verifier
from wikibot_auth.entrypoints.containers import create_container
from wikibot_auth.entrypoints.keys import DEV_KEY_NAME


def env(tmp_path, **extra: str) -> dict[str, str]:
    return {
        "WIKIBOT_AUTH_DATA_DIR": str(tmp_path),
        "WIKIBOT_AUTH_USER_STORE": "memory://",
        **extra,
    }


def test_development_key_is_generated_once_with_mode_0600(tmp_path):
    first = create_container(env(tmp_path)).token_signer()
    path = tmp_path / DEV_KEY_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = create_container(env(tmp_path)).token_signer()
    assert second.validate_token(first.create_token("u")).sub == "u"


def test_production_refuses_a_generated_key(tmp_path):
    with pytest.raises(NotConfigured, match="WIKIBOT_AUTH_PRIVATE_KEY"):
        create_container(env(tmp_path, WIKIBOT_AUTH_ENV="production"))


def test_lambda_never_generates_a_key(tmp_path):
    container = create_container(env(tmp_path, AWS_LAMBDA_FUNCTION_NAME="authorizer"))
    with pytest.raises(NotConfigured):
        container.token_signer()
    assert not (tmp_path / DEV_KEY_NAME).exists()


def test_private_key_from_the_environment_with_literal_newlines(tmp_path, private_key):
    from wikibot_auth.adapters.key_files import private_key_pem, thumbprint

    pem = private_key_pem(private_key).decode().replace("\n", "\\n")
    signer = create_container(
        env(tmp_path, WIKIBOT_AUTH_PRIVATE_KEY=pem)
    ).token_signer()
    assert signer.jwks()["keys"][0]["kid"] == thumbprint(private_key.public_key())


def test_both_key_settings_is_an_error(tmp_path, key_file):
    with pytest.raises(NotConfigured, match="not both"):
        create_container(
            env(
                tmp_path,
                WIKIBOT_AUTH_PRIVATE_KEY="x",
                WIKIBOT_AUTH_PRIVATE_KEY_FILE=str(key_file),
            )
        )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WIKIBOT_AUTH_LEEWAY", "0"),
        ("WIKIBOT_AUTH_LEEWAY", "301"),
        ("WIKIBOT_AUTH_TOKEN_TTL", "soon"),
        ("WIKIBOT_AUTH_IDP_TIMEOUT", "fast"),
        ("WIKIBOT_AUTH_USER_CACHE_TTL", "3601"),
        ("WIKIBOT_AUTH_ENV", "staging"),
        ("WIKIBOT_AUTH_USER_STORE", "postgres://x"),
        ("WIKIBOT_AUTH_IDP", "okta"),
        ("WIKIBOT_AUTH_REDIRECT_URI", "http://example.com/auth/callback"),
        ("WIKIBOT_AUTH_COOKIE_AUTH", "maybe"),
        ("WIKIBOT_AUTH_AUTHORIZER_RESPONSE", "xml"),
    ],
)
def test_bad_setting_names_the_variable(tmp_path, name, value):
    with pytest.raises(NotConfigured, match=name.removeprefix("WIKIBOT_AUTH_")) as info:
        create_container(env(tmp_path, **{name: value}))
    assert value not in str(info.value) or value in ("0",)


def test_numbers_are_read_as_their_kind():
    from wikibot_auth.entrypoints.settings import Settings

    read = Settings.from_env(
        {"WIKIBOT_AUTH_LEEWAY": " 45 ", "WIKIBOT_AUTH_IDP_TIMEOUT": "2.5"}
    )
    assert (read.leeway, read.idp_timeout) == (45, 2.5)
    assert type(read.leeway) is int
    with pytest.raises(NotConfigured, match="LEEWAY must be a whole number"):
        Settings.from_env({"WIKIBOT_AUTH_LEEWAY": "2.5"})


def test_settings_reach_the_token_signer(tmp_path):
    container = create_container(
        env(
            tmp_path,
            WIKIBOT_AUTH_TOKEN_TTL="60",
            WIKIBOT_AUTH_ISSUER="https://auth.example",
        )
    )
    claims = container.token_signer().validate_token(
        container.token_signer().create_token("u")
    )
    assert (claims.exp - claims.iat, claims.iss) == (60, "https://auth.example")


@pytest.mark.parametrize(
    ("store", "location"),
    [
        ("sqlite:///.wikibot-auth/users.db", ".wikibot-auth/users.db"),
        ("sqlite:////var/lib/wikibot/users.db", "/var/lib/wikibot/users.db"),
        ("dynamodb://wikibot-users", "wikibot-users"),
    ],
)
def test_store_urls(store, location):
    from wikibot_auth.entrypoints.settings import Settings

    assert (
        Settings.from_env({"WIKIBOT_AUTH_USER_STORE": store}).store_location == location
    )


def test_default_sqlite_store_is_in_the_data_dir():
    from wikibot_auth.entrypoints.settings import Settings

    assert Settings.from_env({}).store_location == ".wikibot-auth/users.db"
    absolute = Settings.from_env({"WIKIBOT_AUTH_DATA_DIR": "/srv/wb"})
    assert absolute.store_location == "/srv/wb/users.db"


def test_empty_issuer_is_refused(tmp_path):
    from wikibot_auth.entrypoints.settings import Settings

    with pytest.raises(NotConfigured, match="ISSUER"):
        Settings.from_env(env(tmp_path), issuer="")


def test_no_identity_provider_by_default_outside_serve(tmp_path):
    assert create_container(env(tmp_path)).identity_provider() is None


def test_use_cases_run_with_overridden_providers(tmp_path):
    container = create_container(env(tmp_path))
    idp = ScriptedIdentityProvider()
    clock = FixedClock()
    container.identity_provider.override(providers.Object(idp))
    container.clock.override(providers.Object(clock))
    verifier = new_code_verifier()
    idp.script("c", workos_profile(), code_challenge=code_challenge_s256(verifier))
    result = container.exchange_auth_code()("c", verifier)
    user = container.authenticate()(f"Bearer {result.token}")
    assert user.user_id == result.user.user_id
    assert container.user_repository().get(user.user_id) == user.record
    signed_out = container.sign_out_everywhere()(user.user_id)
    assert signed_out.token_generation == user.record.token_generation + 1
    assert signed_out.tokens_valid_after == int(clock.now())
    url = container.authorization_url()(AuthorizationRequest("st", "ch"))
    assert "state=st" in url


def test_concurrent_first_use_builds_each_singleton_once(tmp_path):
    container = create_container(env(tmp_path))
    seen: list[tuple[int, int]] = []

    def resolve(_: int) -> None:
        # The key ring is slow to build (a key is generated): a wide window.
        seen.append((id(container.key_ring()), id(container.user_repository())))

    run_together(16, resolve)
    assert len(seen) == 16
    assert len(set(seen)) == 1


@pytest.mark.parametrize(
    ("environ", "location"),
    [
        ({"WIKIBOT_AUTH_DATA_DIR": "/srv/run#2"}, "/srv/run#2/users.db"),
        ({"WIKIBOT_AUTH_DATA_DIR": "/srv/a?b=1"}, "/srv/a?b=1/users.db"),
        ({"WIKIBOT_AUTH_USER_STORE": "sqlite:///rel#1/u?.db"}, "rel#1/u?.db"),
        ({"WIKIBOT_AUTH_USER_STORE": "sqlite:////abs/x%20y.db"}, "/abs/x%20y.db"),
        ({"WIKIBOT_AUTH_USER_STORE": "SQLite:///Rel/U.db"}, "Rel/U.db"),
    ],
)
def test_sqlite_paths_are_taken_literally(environ, location):
    """``#`` and ``?`` are path characters in a file name, not URL parts."""
    from wikibot_auth.entrypoints.settings import Settings

    assert Settings.from_env(environ).store_location == location


@pytest.mark.parametrize(
    "store", ["sqlite://host/users.db", "sqlite:///", "sqlite:users.db", "sqlite://"]
)
def test_sqlite_urls_with_a_host_or_no_path_are_refused(store):
    from wikibot_auth.domain.errors import NotConfigured
    from wikibot_auth.entrypoints.settings import Settings

    with pytest.raises(NotConfigured, match="sqlite:///relative/path"):
        Settings.from_env({"WIKIBOT_AUTH_USER_STORE": store})
