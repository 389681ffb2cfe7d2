"""``WIKIBOT_AUTH_IDP`` as a list of providers, and each provider's variables:
every bad value is a ``not_configured`` that names the variable, never the
value."""

from __future__ import annotations

import pytest

from wikibot_auth.adapters.oidc_config import PRESETS
from wikibot_auth.domain.errors import NotConfigured
from wikibot_auth.entrypoints.idp_settings import OIDC_PRESETS, ProviderSettings
from wikibot_auth.entrypoints.settings import Settings

SECRET = "s3cr3t-value-never-shown"
BASE = {
    "WIKIBOT_AUTH_USER_STORE": "memory://",
    "WIKIBOT_AUTH_REDIRECT_URI": "https://wiki.example/auth/callback",
}
GOOGLE = {
    "WIKIBOT_AUTH_OIDC_GOOGLE_CLIENT_ID": "google-client",
    "WIKIBOT_AUTH_OIDC_GOOGLE_CLIENT_SECRET": SECRET,
}
GITHUB = {
    "WIKIBOT_AUTH_GITHUB_CLIENT_ID": "Iv1.github",
    "WIKIBOT_AUTH_GITHUB_CLIENT_SECRET": SECRET,
}
ACME = {
    "WIKIBOT_AUTH_OIDC_ACME_ISSUER": "https://login.acme.example/",
    "WIKIBOT_AUTH_OIDC_ACME_CLIENT_ID": "acme-client",
}


def settings(**environ: str) -> Settings:
    return Settings.from_env({**BASE, **environ})


def first_provider(**environ: str) -> ProviderSettings:
    """The first (the default) provider of the settings of ``environ``."""
    return settings(**environ).identity_providers[0]


def test_several_providers_in_order_the_first_the_default():
    got = settings(
        WIKIBOT_AUTH_IDP="workos, Google ,github,acme",
        WORKOS_API_KEY="sk_x",
        **GOOGLE,
        **GITHUB,
        **ACME,
    )
    assert got.idp == "workos,google,github,acme"
    assert got.idp_names == ("workos", "google", "github", "acme")
    kinds = [(p.name, p.kind) for p in got.identity_providers]
    assert kinds == [
        ("workos", "workos"),
        ("google", "oidc"),
        ("github", "github"),
        ("acme", "oidc"),
    ]


def test_an_oidc_provider_takes_every_variable():
    acme = first_provider(
        WIKIBOT_AUTH_IDP="acme",
        WIKIBOT_AUTH_OIDC_ACME_CLIENT_SECRET=SECRET,
        WIKIBOT_AUTH_OIDC_ACME_SCOPES="openid email",
        WIKIBOT_AUTH_OIDC_ACME_SUBJECT_CLAIM="oid",
        WIKIBOT_AUTH_OIDC_ACME_TOKEN_AUTH_METHOD="client_secret_post",
        **ACME,
    )
    assert acme == ProviderSettings(
        "acme",
        "oidc",
        client_id="acme-client",
        client_secret=SECRET,
        issuer="https://login.acme.example/",  # exactly as written
        scopes=("openid", "email"),
        subject_claim="oid",
        token_auth_method="client_secret_post",
    )
    assert SECRET not in repr(acme)


def test_a_name_with_a_dash_reads_its_variables_with_an_underscore():
    got = settings(
        WIKIBOT_AUTH_IDP="my-idp",
        WIKIBOT_AUTH_OIDC_MY_IDP_ISSUER="https://idp.example",
        WIKIBOT_AUTH_OIDC_MY_IDP_CLIENT_ID="c",
    )
    assert got.identity_providers[0].issuer == "https://idp.example"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_preset_needs_only_its_client(name):
    variable = f"WIKIBOT_AUTH_OIDC_{name.upper()}_CLIENT_ID"
    spec = first_provider(WIKIBOT_AUTH_IDP=name, **{variable: "c"})
    assert (spec.kind, spec.client_id, spec.issuer, spec.client_secret) == (
        "oidc",
        "c",
        None,  # the adapter's preset fills it in
        None,  # a public client: PKCE only
    )


def test_the_settings_know_the_adapters_presets():
    assert set(OIDC_PRESETS) == set(PRESETS)


def test_github_takes_its_urls():
    spec = first_provider(
        WIKIBOT_AUTH_IDP="github",
        WIKIBOT_AUTH_GITHUB_URL="https://ghe.example",
        WIKIBOT_AUTH_GITHUB_API_URL="https://ghe.example/api/v3",
        **GITHUB,
    )
    assert (spec.url, spec.api_url) == (
        "https://ghe.example",
        "https://ghe.example/api/v3",
    )


def test_none_and_the_default_without_workos_mean_no_provider():
    assert settings(WIKIBOT_AUTH_IDP="none").identity_providers == ()
    assert settings().identity_providers == ()
    assert settings(WORKOS_API_KEY="sk").idp_names == ("workos",)


def test_a_settings_object_built_by_hand_keeps_working():
    assert Settings(idp="workos").idp_names == ("workos",)
    assert Settings(idp="local").idp_names == ("local",)
    with pytest.raises(NotConfigured, match="WIKIBOT_AUTH_IDP"):
        Settings(idp="google").check()


@pytest.mark.parametrize(
    "idp",
    [
        "okta",
        "work os",
        "workos,,local",
        "local,",
        "x" * 65,
        "idp#2",
        "local,local",
        "none,local",
        "a-b,a_b",
    ],
)
def test_a_bad_provider_list_names_its_variable(idp):
    with pytest.raises(NotConfigured, match="WIKIBOT_AUTH_IDP"):
        settings(WIKIBOT_AUTH_IDP=idp)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        (
            {"WIKIBOT_AUTH_IDP": "acme", "WIKIBOT_AUTH_OIDC_ACME_CLIENT_ID": "c"},
            "WIKIBOT_AUTH_OIDC_ACME_ISSUER",
        ),
        ({"WIKIBOT_AUTH_IDP": "google"}, "WIKIBOT_AUTH_OIDC_GOOGLE_CLIENT_ID"),
        (
            {"WIKIBOT_AUTH_IDP": "acme", "WIKIBOT_AUTH_OIDC_ACME_ISSUER": "https://a"},
            "WIKIBOT_AUTH_OIDC_ACME_CLIENT_ID",
        ),
        (
            {**ACME, "WIKIBOT_AUTH_IDP": "acme", "WIKIBOT_AUTH_OIDC_ACME_ISSUER": ""},
            "WIKIBOT_AUTH_OIDC_ACME_ISSUER",
        ),
        (
            {
                **ACME,
                "WIKIBOT_AUTH_IDP": "acme",
                "WIKIBOT_AUTH_OIDC_ACME_ISSUER": "http://idp.example",
            },
            "WIKIBOT_AUTH_OIDC_ACME_ISSUER",
        ),
        (
            {
                **ACME,
                "WIKIBOT_AUTH_IDP": "acme",
                "WIKIBOT_AUTH_OIDC_ACME_ISSUER": "https://idp.example/?t=1",
            },
            "WIKIBOT_AUTH_OIDC_ACME_ISSUER",
        ),
        (
            {
                **ACME,
                "WIKIBOT_AUTH_IDP": "acme",
                "WIKIBOT_AUTH_OIDC_ACME_ISSUER": "idp.example",
            },
            "WIKIBOT_AUTH_OIDC_ACME_ISSUER",
        ),
        (
            {
                **GOOGLE,
                "WIKIBOT_AUTH_IDP": "google",
                "WIKIBOT_AUTH_OIDC_GOOGLE_SCOPES": "email",
            },
            "WIKIBOT_AUTH_OIDC_GOOGLE_SCOPES",
        ),
        (
            {
                **GOOGLE,
                "WIKIBOT_AUTH_IDP": "google",
                "WIKIBOT_AUTH_OIDC_GOOGLE_SCOPES": 'openid "quoted"',
            },
            "WIKIBOT_AUTH_OIDC_GOOGLE_SCOPES",
        ),
        (
            {
                **GOOGLE,
                "WIKIBOT_AUTH_IDP": "google",
                "WIKIBOT_AUTH_OIDC_GOOGLE_SUBJECT_CLAIM": "sub claim",
            },
            "WIKIBOT_AUTH_OIDC_GOOGLE_SUBJECT_CLAIM",
        ),
        (
            {
                **GOOGLE,
                "WIKIBOT_AUTH_IDP": "google",
                "WIKIBOT_AUTH_OIDC_GOOGLE_TOKEN_AUTH_METHOD": "private_key_jwt",
            },
            "WIKIBOT_AUTH_OIDC_GOOGLE_TOKEN_AUTH_METHOD",
        ),
        (
            {
                "WIKIBOT_AUTH_IDP": "google",
                "WIKIBOT_AUTH_OIDC_GOOGLE_CLIENT_ID": "c",
                "WIKIBOT_AUTH_OIDC_GOOGLE_TOKEN_AUTH_METHOD": "client_secret_basic",
            },
            "WIKIBOT_AUTH_OIDC_GOOGLE_CLIENT_SECRET",
        ),
        (
            {
                "WIKIBOT_AUTH_IDP": "google",
                "WIKIBOT_AUTH_OIDC_GOOGLE_CLIENT_ID": "c",
                "WIKIBOT_AUTH_OIDC_GOOGLE_CLIENT_SECRET": SECRET + "\n",
            },
            None,  # trailing whitespace is trimmed: not an error
        ),
        (
            {
                "WIKIBOT_AUTH_IDP": "google",
                "WIKIBOT_AUTH_OIDC_GOOGLE_CLIENT_ID": "c",
                "WIKIBOT_AUTH_OIDC_GOOGLE_CLIENT_SECRET": SECRET + "\x00x",
            },
            "WIKIBOT_AUTH_OIDC_GOOGLE_CLIENT_SECRET",
        ),
        ({"WIKIBOT_AUTH_IDP": "github"}, "WIKIBOT_AUTH_GITHUB_CLIENT_ID"),
        (
            {"WIKIBOT_AUTH_IDP": "github", "WIKIBOT_AUTH_GITHUB_CLIENT_ID": "c"},
            "WIKIBOT_AUTH_GITHUB_CLIENT_SECRET",
        ),
        (
            {
                **GITHUB,
                "WIKIBOT_AUTH_IDP": "github",
                "WIKIBOT_AUTH_GITHUB_URL": "http://github.example",
            },
            "WIKIBOT_AUTH_GITHUB_URL",
        ),
        (
            {
                **GITHUB,
                "WIKIBOT_AUTH_IDP": "github",
                "WIKIBOT_AUTH_GITHUB_API_URL": "ftp://127.0.0.1/api",
            },
            "WIKIBOT_AUTH_GITHUB_API_URL",
        ),
    ],
)
def test_a_bad_value_names_its_variable_and_never_the_value(environ, variable):
    if variable is None:
        settings(**environ)
        return
    with pytest.raises(NotConfigured) as info:
        settings(**environ)
    message = str(info.value)
    assert variable in message
    for name, value in environ.items():
        if name == "WIKIBOT_AUTH_IDP" or len(value) < 4:
            continue  # a provider's name is part of its variables' names
        assert value not in message, name
    assert SECRET not in message


def test_an_unknown_name_says_how_to_configure_it_without_saying_it():
    with pytest.raises(NotConfigured) as info:
        settings(WIKIBOT_AUTH_IDP="workos,okta", WORKOS_API_KEY="sk")
    assert "WIKIBOT_AUTH_IDP: provider 2 " in str(info.value)
    assert "WIKIBOT_AUTH_OIDC_<NAME>_ISSUER" in str(info.value)
    assert "okta" not in str(info.value).lower()


def test_loopback_http_is_allowed_for_tests_and_development():
    spec = first_provider(
        WIKIBOT_AUTH_IDP="acme",
        WIKIBOT_AUTH_OIDC_ACME_ISSUER="http://127.0.0.1:9000",
        WIKIBOT_AUTH_OIDC_ACME_CLIENT_ID="c",
    )
    assert spec.issuer == "http://127.0.0.1:9000"


# -- local keeps its rules in any list ----------------------------------------


def test_local_beside_another_provider_is_refused_in_production():
    with pytest.raises(NotConfigured, match="production"):
        settings(
            WIKIBOT_AUTH_ENV="production",
            WIKIBOT_AUTH_PRIVATE_KEY_FILE="/k.pem",
            WIKIBOT_AUTH_IDP="google,local",
            **GOOGLE,
        )


def test_local_beside_another_provider_is_refused_in_lambda():
    with pytest.raises(NotConfigured, match="Lambda"):
        settings(AWS_LAMBDA_FUNCTION_NAME="login", WIKIBOT_AUTH_IDP="workos,local")


def test_serve_refuses_local_in_a_list_on_a_non_loopback_host():
    environ = {**BASE, "WIKIBOT_AUTH_IDP": "google,local", **GOOGLE}
    with pytest.raises(NotConfigured, match="non-loopback"):
        Settings.for_serve("0.0.0.0", 8000, environ)  # noqa: S104
    assert Settings.for_serve("127.0.0.1", 8000, environ).idp_names == (
        "google",
        "local",
    )


def test_a_remote_provider_needs_a_configured_redirect_uri():
    assert settings(WIKIBOT_AUTH_IDP="google", **GOOGLE).redirect_uri_required
    assert not settings(WIKIBOT_AUTH_IDP="local").redirect_uri_required
    assert not settings(WIKIBOT_AUTH_IDP="none").redirect_uri_required


def test_the_documented_configuration_example_is_accepted():
    from pathlib import Path

    page = (Path(__file__).parents[2] / "docs/identity-providers.md").read_text()
    start = page.index("```sh\nWIKIBOT_AUTH_IDP=workos,")
    block = page[start + len("```sh\n") : page.index("```", start + 6)]
    environ = dict(
        line.split("=", 1)
        for line in block.splitlines()
        if line and not line.startswith("#")
    )
    got = Settings.from_env({**environ, "WORKOS_API_KEY": "sk_x"})
    assert got.idp_names == ("workos", "google", "okta", "github")
