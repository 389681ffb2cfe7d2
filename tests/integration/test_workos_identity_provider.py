"""The WorkOS adapter over real HTTP to the stand-in, and over MockTransport."""

from __future__ import annotations

import email.utils
import json
import logging
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.integration.workos_standin import (
    API_KEY,
    CLIENT_ID,
    WorkOSStandIn,
    fixture,
    s256,
)
from wikibot_auth.adapters.workos import (
    WorkOSIdentityProvider,
    choose_identity,
    parse_retry_after,
)
from wikibot_auth.domain.errors import (
    AuthError,
    IdPError,
    IdPUnavailable,
    InvalidRequest,
    LoginFailed,
    LoginStepRequired,
    NotConfigured,
)
from wikibot_auth.domain.model import Identity
from wikibot_auth.domain.pkce import new_code_verifier

REDIRECT = "https://wiki.example/auth/callback"
TIMEOUT = 1.0
GOOGLE_USER = "user_01E4ZCR3C56J083X43JQXF3JK5"


@pytest.fixture(scope="module")
def standin_server() -> Iterator[WorkOSStandIn]:
    with WorkOSStandIn.running() as server:
        server.slow_seconds = TIMEOUT * 2
        yield server


@pytest.fixture
def standin(standin_server: WorkOSStandIn) -> WorkOSStandIn:
    standin_server.reset()
    return standin_server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=TIMEOUT) as client:
        yield client


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def workos(
    standin: WorkOSStandIn, http: httpx.Client, sleeps: list[float]
) -> WorkOSIdentityProvider:
    return WorkOSIdentityProvider(
        http,
        api_key=API_KEY,
        client_id=CLIENT_ID,
        base_url=standin.url,
        redirect_uri=REDIRECT,
        sleep=sleeps.append,
    )


def start(standin: WorkOSStandIn, scenario: str = "google") -> tuple[str, str]:
    verifier = new_code_verifier()
    return standin.issue_code(s256(verifier), scenario), verifier


# -- code exchange: success ------------------------------------------------


def test_code_exchange_returns_the_profile_and_the_raw_identity(workos, standin):
    profile = workos.exchange_code(*start(standin))
    assert profile.alias == Identity.workos(GOOGLE_USER)
    assert profile.identity == Identity("google", "108872335")
    assert not profile.identity_lookup_failed
    assert (profile.email, profile.display_name) == (
        "marcelina.davis@example.com",
        "Marcelina Davis",
    )
    assert profile.email_verified is True
    assert profile.organization_id == "org_01H945H0YD4F97JN9MATX7BYAG"
    assert profile.authentication_method == "GoogleOAuth"
    assert profile.profile_picture_url == "https://workoscdn.com/images/v1/123abc"


def test_code_exchange_sends_the_authorization_code_grant_as_json(workos, standin):
    code, verifier = start(standin)
    workos.exchange_code(code, verifier)
    (call,) = standin.calls("authenticate")
    assert call.headers["Content-Type"] == "application/json"
    assert call.body == {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "client_secret": API_KEY,
        "code": code,
        "code_verifier": verifier,
    }


def test_github_spelling_null_last_name_and_absent_method(workos, standin):
    profile = workos.exchange_code(*start(standin, "github"))
    assert profile.identity == Identity("github", "583231")
    assert (profile.last_name, profile.display_name) == (None, "Octo")
    assert profile.authentication_method is None
    assert profile.organization_id is None


def test_empty_identities_is_no_identity_not_a_failure(workos, standin):
    profile = workos.exchange_code(*start(standin, "password"))
    assert profile.identity is None
    assert not profile.identity_lookup_failed
    assert profile.primary == Identity.workos("user_01J0PASSWORDONLYUSER00000")
    assert profile.display_name == "pat"


def test_several_identities_prefer_the_one_used_to_sign_in(workos, standin):
    profile = workos.exchange_code(*start(standin, "linked"))
    assert profile.identity == Identity("github", "583231")


def test_identities_call_sends_the_api_key_as_bearer(workos, standin):
    workos.exchange_code(*start(standin))
    (call,) = standin.calls("identities")
    assert call.headers["Authorization"] == f"Bearer {API_KEY}"
    assert call.raw_path == f"/user_management/users/{GOOGLE_USER}/identities"


SEVERAL = fixture("identities_several")["body"]


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("GoogleOAuth", Identity("google", "108872335")),
        (
            "MicrosoftOAuth",
            Identity("microsoft", "4F42ABDE-7E5D-4A2B-9D3C-2C1B0A998877"),
        ),
        ("GithubOAuth", Identity("github", "583231")),
        (None, Identity("github", "583231")),
        ("Password", Identity("github", "583231")),
    ],
)
def test_choosing_among_several_identities(method, expected):
    assert choose_identity(SEVERAL, method) == expected


def test_oauth_type_wins_over_other_types_then_smallest_pair():
    data = [
        {"idp_id": "a", "type": "Other", "provider": "AppleOAuth"},
        {"idp_id": "2", "type": "OAuth", "provider": "GoogleOAuth"},
        {"idp_id": "1", "type": "OAuth", "provider": "GoogleOAuth"},
    ]
    assert choose_identity(data, None) == Identity("google", "1")


@pytest.mark.parametrize(
    "data",
    [
        {"data": []},
        [{"type": "OAuth", "provider": "GoogleOAuth"}],
        [{"idp_id": "1", "type": "OAuth"}],
        [{"idp_id": 1, "type": "OAuth", "provider": "GoogleOAuth"}],
        ["GoogleOAuth"],
    ],
)
def test_wrong_shaped_identities_are_an_idp_error(data):
    with pytest.raises(IdPError):
        choose_identity(data, None)


# -- code exchange: failures ----------------------------------------------


def test_unknown_code_fails_the_login(workos, standin):
    with pytest.raises(LoginFailed):
        workos.exchange_code("01UNKNOWNCODE", new_code_verifier())


def test_a_code_is_single_use(workos, standin):
    code, verifier = start(standin)
    workos.exchange_code(code, verifier)
    with pytest.raises(LoginFailed):
        workos.exchange_code(code, verifier)


def test_a_wrong_verifier_fails_the_login(workos, standin):
    code, _ = start(standin)
    with pytest.raises(LoginFailed):
        workos.exchange_code(code, new_code_verifier())


def test_email_verification_required_is_another_step(workos, standin):
    with pytest.raises(LoginStepRequired) as caught:
        workos.exchange_code(*start(standin, "email_verification"))
    assert caught.value.step == "email_verification_required"
    assert standin.calls("identities") == []


def test_a_rejected_api_key_is_an_idp_error(standin, http):
    wrong = WorkOSIdentityProvider(
        http, api_key="sk_test_wrong", client_id=CLIENT_ID, base_url=standin.url
    )
    with pytest.raises(IdPError):
        wrong.exchange_code(*start(standin))


@pytest.mark.parametrize(
    ("mode", "error", "retry_after"),
    [
        ("500", IdPError, None),
        ("401", IdPError, None),
        ("malformed", IdPError, None),
        ("html", IdPError, None),
        ("429", IdPUnavailable, 7),
        ("slow", IdPUnavailable, None),
        ("reset", IdPUnavailable, None),
    ],
)
def test_code_exchange_failures_map_to_their_codes_and_are_never_retried(
    workos, standin, sleeps, mode, error, retry_after
):
    standin.fail("authenticate", mode)
    with pytest.raises(error) as caught:
        workos.exchange_code(*start(standin))
    assert type(caught.value) is error
    assert caught.value.retry_after == retry_after
    assert len(standin.calls("authenticate")) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"error": "invalid_grant", "error_description": "x"}, LoginFailed),
        (400, {"code": "invalid_grant", "message": "x"}, LoginFailed),
        (400, {"error": "invalid_client", "error_description": "x"}, IdPError),
        (403, {"code": "mfa_challenge", "message": "x"}, LoginStepRequired),
        (403, {"error": "sso_required", "error_description": "x"}, LoginStepRequired),
        (403, {"code": "forbidden", "message": "missing permission"}, IdPError),
        (404, {"code": "entity_not_found", "message": "x"}, IdPError),
        (422, {"code": "unprocessable_entity", "errors": []}, IdPError),
        (503, {"message": "down"}, IdPError),
    ],
)
def test_both_error_body_shapes_are_read(status, body, error):
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    with pytest.raises(error) as caught:
        mock_provider(answer).exchange_code("c", new_code_verifier())
    assert type(caught.value) is error


def test_a_200_of_the_wrong_shape_is_an_idp_error():
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"user": "user_01"})

    with pytest.raises(IdPError):
        mock_provider(answer).exchange_code("c", new_code_verifier())


# -- identities lookup failures: the login goes on with the alias ----------


@pytest.mark.parametrize("mode", ["500", "429", "slow", "reset", "malformed", "html"])
def test_identities_failure_is_reported_not_raised(workos, standin, mode):
    standin.fail("identities", mode, times=2)
    profile = workos.exchange_code(*start(standin))
    assert profile.identity_lookup_failed
    assert profile.identity is None
    assert profile.primary == Identity.workos(GOOGLE_USER)


def test_identities_404_is_a_failed_lookup(workos, standin):
    standin.identities[GOOGLE_USER] = "error_not_found"
    profile = workos.exchange_code(*start(standin))
    assert profile.identity_lookup_failed


def test_identities_read_is_retried_once_after_a_5xx(workos, standin, sleeps):
    standin.fail("identities", "500", times=1)
    profile = workos.exchange_code(*start(standin))
    assert profile.identity == Identity("google", "108872335")
    assert len(standin.calls("identities")) == 2
    assert sleeps == [0.2]


def test_retry_after_beyond_the_cap_is_not_waited_for(workos, standin, sleeps):
    standin.fail("identities", "429", times=1)  # Retry-After: 7 > the 2 s cap
    profile = workos.exchange_code(*start(standin))
    assert profile.identity_lookup_failed
    assert len(standin.calls("identities")) == 1
    assert sleeps == []


def test_retry_after_within_the_cap_is_honoured():
    answers = iter(
        [
            httpx.Response(503, headers={"Retry-After": "1"}, json={"code": "x"}),
            httpx.Response(200, json=[]),
        ]
    )
    sleeps: list[float] = []
    idp = mock_provider(lambda request: next(answers), sleep=sleeps.append)
    assert idp.get_provider_sub("user_01") is None
    assert sleeps == [1.0]


def test_reads_give_up_after_the_retries():
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        raise httpx.ConnectError("refused", request=request)

    idp = mock_provider(answer, max_retries=2)
    with pytest.raises(IdPUnavailable):
        idp.get_provider_sub("user_01")
    assert len(calls) == 3


# -- profile, provider sub, paths ------------------------------------------


def test_get_user_profile(workos, standin):
    workos.exchange_code(*start(standin))
    profile = workos.get_user_profile(GOOGLE_USER)
    assert profile.alias == Identity.workos(GOOGLE_USER)
    assert (profile.first_name, profile.last_name) == ("Marcelina", "Davis")
    assert profile.identity is None


def test_get_user_profile_of_an_unknown_user_is_an_idp_error(workos, standin):
    with pytest.raises(IdPError):
        workos.get_user_profile("user_unknown")


def test_get_provider_sub(workos, standin):
    workos.exchange_code(*start(standin, "github"))
    sub = workos.get_provider_sub("user_01H7ZGXFP5C6BBQY6Z7277ZCT0")
    assert sub == Identity("github", "583231")


def test_missing_email_in_the_exchange_is_read_from_the_user():
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/authenticate"):
            return httpx.Response(200, json={"user": {"id": "user_01"}})
        if path.endswith("/identities"):
            return httpx.Response(200, json=[])
        return httpx.Response(200, json={"id": "user_01", "email": "a@example.com"})

    profile = mock_provider(answer).exchange_code("c", new_code_verifier())
    assert profile.email == "a@example.com"


@pytest.mark.parametrize(
    ("user_id", "segment"),
    [
        ("../../sso/jwks", "%2E%2E%2F%2E%2E%2Fsso%2Fjwks"),
        ("a/b", "a%2Fb"),
        ("..", "%2E%2E"),
        ("x?y#z", "x%3Fy%23z"),
    ],
)
def test_user_ids_cannot_change_the_path(user_id, segment):
    paths: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path)
        return httpx.Response(200, json=[])

    mock_provider(answer).get_provider_sub(user_id)
    assert paths == [f"/user_management/users/{segment}/identities".encode()]


# -- authorization URL -----------------------------------------------------


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def test_authorization_url_carries_every_parameter(workos, standin):
    url = workos.authorization_url(state="st", code_challenge="ch", login_hint="a@b.c")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == standin.url
    assert parts.path == "/user_management/authorize"
    assert query(url) == {
        "client_id": [CLIENT_ID],
        "redirect_uri": [REDIRECT],
        "response_type": ["code"],
        "provider": ["authkit"],
        "state": ["st"],
        "code_challenge": ["ch"],
        "code_challenge_method": ["S256"],
        "login_hint": ["a@b.c"],
    }


def test_user_supplied_values_cannot_add_parameters(workos):
    hint = "a@b.c&provider=GoogleOAuth&redirect_uri=https://evil.example#x"
    url = workos.authorization_url(
        state="s&t=1", code_challenge="ch", login_hint=hint, screen_hint="sign-up"
    )
    params = query(url)
    assert params["login_hint"] == [hint]
    assert params["state"] == ["s&t=1"]
    assert params["provider"] == ["authkit"]
    assert params["redirect_uri"] == [REDIRECT]
    assert params["screen_hint"] == ["sign-up"]
    assert "#" not in url


def test_unknown_screen_hint_is_a_bad_request(workos):
    with pytest.raises(InvalidRequest):
        workos.authorization_url(state="s", code_challenge="c", screen_hint="x&y=1")


def test_connection_id_replaces_the_provider(http):
    idp = WorkOSIdentityProvider(
        http, api_key=API_KEY, client_id=CLIENT_ID, connection_id="conn_01"
    )
    url = idp.authorization_url(state="s", code_challenge="c", redirect_uri=REDIRECT)
    assert url.startswith("https://api.workos.com/user_management/authorize?")
    assert query(url)["connection_id"] == ["conn_01"]
    assert "provider" not in query(url)


def test_authorization_url_without_a_redirect_uri_is_not_configured(http):
    idp = WorkOSIdentityProvider(http, api_key=API_KEY, client_id=CLIENT_ID)
    with pytest.raises(NotConfigured):
        idp.authorization_url(state="s", code_challenge="c")


@pytest.mark.parametrize(
    "base_url",
    ["http://api.workos.com", "ftp://api.workos.com", "https://", "workos.com"],
)
def test_the_api_key_only_travels_over_https_or_to_loopback(http, base_url):
    with pytest.raises(NotConfigured, match="WORKOS_BASE_URL"):
        WorkOSIdentityProvider(
            http, api_key=API_KEY, client_id=CLIENT_ID, base_url=base_url
        )


@pytest.mark.parametrize(
    "base_url", ["https://api.workos.com/", "http://127.0.0.1:8080", "http://[::1]:1"]
)
def test_https_and_loopback_base_urls_are_accepted(http, base_url):
    idp = WorkOSIdentityProvider(
        http, api_key=API_KEY, client_id=CLIENT_ID, base_url=base_url
    )
    url = idp.authorization_url(state="s", code_challenge="c", redirect_uri=REDIRECT)
    assert url.startswith(base_url.rstrip("/") + "/user_management/authorize?")


# -- Retry-After -----------------------------------------------------------

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7),
        (" 0 ", 0),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0),
        ("999999", 3600),
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_retry_after_in_seconds_or_as_an_http_date(value, seconds):
    assert parse_retry_after(value, NOW) == seconds


# -- secrets never reach logs or errors ------------------------------------

SECRETS_IN_FIXTURES = (
    "eyJhb.nNzb19vaWRjX2tleV9.lc5Uk4yWVk5In0",
    "yAjhKk123NLIjdrBdGZPf8pLIDvK",
    "YQyCkYfuVw2mI3tzSrk2C1Y7S",
)


@pytest.mark.parametrize(
    "scenario",
    [
        "success",
        "reused",
        "wrong_verifier",
        "email_verification",
        "authenticate:500",
        "authenticate:401",
        "authenticate:429",
        "authenticate:slow",
        "authenticate:reset",
        "authenticate:malformed",
        "authenticate:html",
        "identities:500",
        "identities:slow",
        "identities:reset",
        "identities:html",
    ],
)
def test_no_secret_reaches_the_logs_or_the_error(workos, standin, caplog, scenario):
    caplog.set_level(logging.DEBUG, logger="wikibot_auth")
    code, verifier = start(
        standin, "email_verification" if scenario == "email_verification" else "google"
    )
    if ":" in scenario:
        route, mode = scenario.split(":")
        standin.fail(route, mode, times=2)
    if scenario == "reused":
        workos.exchange_code(code, verifier)
    if scenario == "wrong_verifier":
        verifier = new_code_verifier()
    message = ""
    try:
        workos.exchange_code(code, verifier)
    except AuthError as exc:
        message = f"{exc!s} {exc!r}"
    for secret in (API_KEY, code, verifier, *SECRETS_IN_FIXTURES):
        assert secret not in caplog.text
        assert secret not in message
    assert "WorkOS" in caplog.text  # the adapter did log something


def test_the_request_id_is_logged(workos, standin, caplog):
    caplog.set_level(logging.WARNING, logger="wikibot_auth")
    with pytest.raises(LoginFailed):
        workos.exchange_code("01UNKNOWN", new_code_verifier())
    assert "req_01INVALIDGRANT" in caplog.text


def test_the_adapter_repr_shows_no_key(workos):
    assert API_KEY not in repr(workos)


# -- helpers -----------------------------------------------------------------


def mock_provider(
    answer: Callable[[httpx.Request], httpx.Response], **options: object
) -> WorkOSIdentityProvider:
    client = httpx.Client(transport=httpx.MockTransport(answer))
    options.setdefault("sleep", lambda seconds: None)
    return WorkOSIdentityProvider(
        client,
        api_key=API_KEY,
        client_id=CLIENT_ID,
        base_url="https://workos.invalid",
        **options,  # type: ignore[arg-type]
    )


def test_mock_bodies_are_json_roundtrips():
    # The stand-in fixtures parse, and each names its reference page.
    for name in ("authenticate_google", "identities_several", "error_invalid_grant"):
        data = fixture(name)
        assert data["_source"].startswith("https://workos.com/docs/reference/")
        json.dumps(data["body"])
