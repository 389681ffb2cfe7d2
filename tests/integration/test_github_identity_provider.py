"""The GitHub adapter over real HTTP to the GitHub stand-in: the authorize URL,
the code exchange and its HTTP-200 errors, the numeric subject, the primary
verified email, GitHub Enterprise's URLs, rate limits and the error table."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.github_standin import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT,
    GitHubStandIn,
)
from tests.integration.workos_standin import s256
from wikibot_auth.adapters.bounded_http import BoundedHttpClient
from wikibot_auth.adapters.github import GitHubIdentityProvider, primary_verified_email
from wikibot_auth.domain.errors import (
    IdPError,
    IdPUnavailable,
    LoginFailed,
    LoginStepRequired,
    NotConfigured,
)
from wikibot_auth.domain.model import (
    AuthorizationRequest,
    Identity,
    IdentityProfile,
    LoginCallback,
    User,
)
from wikibot_auth.domain.pkce import new_code_verifier
from wikibot_auth.domain.use_cases import ExchangeAuthCode

OCTOCAT = Identity("github", "1")


def github(
    http: BoundedHttpClient, standin: GitHubStandIn, **options
) -> GitHubIdentityProvider:
    options.setdefault("client_secret", CLIENT_SECRET)
    return GitHubIdentityProvider(
        http,
        client_id=CLIENT_ID,
        base_url=standin.url,
        api_url=options.pop("api_url", standin.url),
        redirect_uri=REDIRECT,
        **options,
    )


def callback(standin: GitHubStandIn, emails=None, **user) -> LoginCallback:
    verifier = new_code_verifier()
    code = standin.issue_code(s256(verifier), emails, **user)
    return LoginCallback(code, verifier, REDIRECT)


def test_the_authorization_url_asks_for_user_email_with_pkce(http, github_standin):
    url = github(http, github_standin).authorization_url(
        AuthorizationRequest("st", "ch" * 22, login_hint="octocat")
    )
    assert url.startswith(github_standin.url + "/login/oauth/authorize?")
    assert parse_qs(urlsplit(url).query) == {
        "client_id": [CLIENT_ID],
        "redirect_uri": [REDIRECT],
        "scope": ["user:email"],
        "state": ["st"],
        "code_challenge": ["ch" * 22],
        "code_challenge_method": ["S256"],
        "login": ["octocat"],
    }


def test_a_login_is_the_numeric_id_the_name_and_the_primary_verified_email(
    http, github_standin
):
    profile = github(http, github_standin).exchange_code(callback(github_standin))
    assert profile == IdentityProfile(
        alias=OCTOCAT,
        email="octocat@github.com",
        first_name="monalisa octocat",
        email_verified=True,
    )
    token_request = github_standin.calls("token")[0]
    assert token_request[2]["Accept"] == "application/json"
    assert parse_qs(token_request[3])["code_verifier"]
    user_request = github_standin.calls("user")[0]
    assert user_request[2]["X-GitHub-Api-Version"] == "2022-11-28"


def test_the_login_is_the_name_when_there_is_none(http, github_standin):
    login = callback(github_standin, name=None, id=583231)
    profile = github(http, github_standin).exchange_code(login)
    assert (profile.alias, profile.display_name) == (
        Identity("github", "583231"),
        "octocat",
    )


@pytest.mark.parametrize(
    ("emails", "expected"),
    [
        (
            [
                {"email": "old@example.com", "primary": False, "verified": True},
                {"email": "main@example.com", "primary": True, "verified": True},
            ],
            "main@example.com",
        ),
        ([{"email": "main@example.com", "primary": True, "verified": False}], None),
        ([{"email": "side@example.com", "primary": False, "verified": True}], None),
        ([], None),
    ],
)
def test_only_the_primary_verified_email_is_taken(emails, expected):
    assert primary_verified_email(emails) == expected


def test_a_user_without_a_verified_primary_email_logs_in_with_none(
    http, github_standin
):
    emails = [{"email": "x@example.com", "primary": True, "verified": False}]
    profile = github(http, github_standin).exchange_code(
        callback(github_standin, emails)
    )
    assert (profile.email, profile.email_verified) == ("", None)
    assert profile.display_name == "monalisa octocat"


def test_github_enterprise_server_urls(http, github_standin):
    idp = github(http, github_standin, api_url=github_standin.url + "/api/v3")
    assert idp.exchange_code(callback(github_standin)).alias == OCTOCAT
    assert github_standin.calls("user")[0][1] == "/api/v3/user"


@pytest.mark.parametrize(
    ("url", "api_url"),
    [
        ("http://github.example", "https://api.github.com"),
        ("https://github.com", "ftp://x"),
    ],
)
def test_urls_must_be_https_or_loopback(http, url, api_url):
    with pytest.raises(NotConfigured):
        GitHubIdentityProvider(
            http, client_id="c", client_secret="s", base_url=url, api_url=api_url
        )


def test_a_spent_or_unknown_code_is_a_failed_login(http, github_standin):
    idp = github(http, github_standin)
    login = callback(github_standin)
    idp.exchange_code(login)
    with pytest.raises(LoginFailed):  # bad_verification_code, as HTTP 200
        idp.exchange_code(login)


def test_a_wrong_verifier_is_a_failed_login(http, github_standin):
    login = callback(github_standin)
    bad = LoginCallback(login.code, new_code_verifier(), REDIRECT)
    with pytest.raises(LoginFailed):
        github(http, github_standin).exchange_code(bad)


def test_wrong_client_credentials_are_an_idp_error_logged_as_an_error(
    http, github_standin, caplog
):
    with caplog.at_level(logging.ERROR), pytest.raises(IdPError):
        github(http, github_standin, client_secret="wrong").exchange_code(
            callback(github_standin)
        )
    assert "code=incorrect_client_credentials" in caplog.text
    assert "wrong" not in caplog.text


def test_an_unverified_primary_email_is_another_login_step(http, github_standin):
    # GitHub refuses the exchange itself for such a user (troubleshooting page).
    verifier = new_code_verifier()
    code = github_standin.issue_code(
        s256(verifier), refusal="error_unverified_user_email"
    )
    with pytest.raises(LoginStepRequired) as info:
        github(http, github_standin).exchange_code(
            LoginCallback(code, verifier, REDIRECT)
        )
    assert info.value.step == "email_verification"


def test_redirect_uri_mismatch_is_an_idp_error(http, github_standin):
    login = callback(github_standin)
    with pytest.raises(IdPError):
        github(http, github_standin).exchange_code(
            LoginCallback(login.code, login.code_verifier, "https://elsewhere.example")
        )


@pytest.mark.parametrize(
    ("route", "mode", "error"),
    [
        ("token", "500", IdPError),
        ("token", "reset", IdPUnavailable),
        ("token", "malformed", IdPError),
        ("user", "rate_limited", IdPUnavailable),
        ("user", "secondary", IdPUnavailable),
        ("emails", "500", IdPError),
        ("emails", "malformed", IdPError),
    ],
)
def test_failures_map_onto_the_error_table(http, github_standin, route, mode, error):
    github_standin.fail(route, mode, times=2)  # reads are retried once
    with pytest.raises(error) as info:
        github(http, github_standin).exchange_code(callback(github_standin))
    if mode == "rate_limited":
        assert 1 <= info.value.retry_after <= 42
    assert len(github_standin.calls("token")) == 1  # a code is never retried


def test_no_secret_reaches_a_log_line_or_an_error(http, github_standin, caplog):
    login = callback(github_standin)
    idp = github(http, github_standin)
    idp.exchange_code(login)
    github_standin.fail("emails", "500", times=2)
    second = callback(github_standin)
    with caplog.at_level(logging.DEBUG):
        for attempt in (login, second):
            with pytest.raises((LoginFailed, IdPError)) as info:
                idp.exchange_code(attempt)
            for secret in (attempt.code, attempt.code_verifier, CLIENT_SECRET):
                assert secret not in repr(info.value)
                assert secret not in caplog.text
    for _, _, headers, _ in github_standin.requests:
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        if token:
            assert token not in caplog.text
    assert CLIENT_SECRET not in repr(idp)


def test_a_github_login_resolves_to_the_user_workos_recorded(
    http, github_standin, repo, signer, clock
):
    # WorkOS's GitHubOAuth identity of octocat was ("github", "1").
    user = User("usr_octo", "octocat@github.com", "Octo", "github", "1", "user_01OCTO")
    repo.create(user, [OCTOCAT, Identity.workos("user_01OCTO")])
    exchange = ExchangeAuthCode(github(http, github_standin), repo, signer, clock)
    result = exchange.finish(callback(github_standin))
    assert (result.user.user_id, result.created) == ("usr_octo", False)
    assert result.user.display_name == "monalisa octocat"
