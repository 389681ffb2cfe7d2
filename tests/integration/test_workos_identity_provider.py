"""The WorkOS adapter over real HTTP to the stand-in, and over MockTransport.

The transport beneath it (deadlines, body cap, retries, the worker pool) has
its own tests in ``test_bounded_http.py``; these check the mapping, and that
the guarantees hold end to end through the adapter."""

from __future__ import annotations

import email.utils
import gzip
import json
import logging
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import Sleeps
from tests.integration.test_bounded_http import exception_chain
from tests.integration.workos_standin import (
    API_KEY,
    CLIENT_ID,
    FIXTURES,
    WorkOSStandIn,
    start,
)
from wikibot_auth.adapters.bounded_http import MAX_BODY_BYTES, BoundedHttpClient
from wikibot_auth.adapters.workos import WorkOSIdentityProvider
from wikibot_auth.domain import errors
from wikibot_auth.domain.errors import (
    IdPError,
    IdPUnavailable,
    InvalidRequest,
    LoginFailed,
    LoginStepRequired,
)
from wikibot_auth.domain.model import AuthorizationRequest, Identity, LoginCallback
from wikibot_auth.domain.pkce import new_code_verifier

REDIRECT = "https://wiki.example/auth/callback"
TIMEOUT = 1.0
GOOGLE_USER = "user_01E4ZCR3C56J083X43JQXF3JK5"
OK = {"user": {"id": "user_01", "email": "a@example.com"}}


@pytest.fixture
def http(sleeps: Sleeps) -> Iterator[BoundedHttpClient]:
    # Shorter than the shared client's: the timing tests below wait it out.
    with BoundedHttpClient(timeout=TIMEOUT, sleep=sleeps) as client:
        yield client


@pytest.fixture
def workos(standin: WorkOSStandIn, http: BoundedHttpClient) -> WorkOSIdentityProvider:
    return WorkOSIdentityProvider(
        http,
        api_key=API_KEY,
        client_id=CLIENT_ID,
        base_url=standin.url,
        redirect_uri=REDIRECT,
    )


def callback(standin: WorkOSStandIn, scenario: str = "google") -> LoginCallback:
    return LoginCallback(*start(standin, scenario))


def any_code(code: str = "c") -> LoginCallback:
    return LoginCallback(code, new_code_verifier())


def routed(auth=None, ident=None, user=None):
    """A MockTransport answer per route; by default a user with no identities."""

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/authenticate"):
            return auth(request) if auth else httpx.Response(200, json=OK)
        if path.endswith("/identities"):
            return ident(request) if ident else httpx.Response(200, json=[])
        if user:
            return user(request)
        return httpx.Response(404, json={"code": "entity_not_found"})

    return answer


# -- code exchange: success ------------------------------------------------


def test_code_exchange_returns_the_profile_and_the_raw_identity(workos, standin):
    profile = workos.exchange_code(callback(standin))
    assert profile.alias == Identity.workos(GOOGLE_USER)
    assert profile.identity == Identity("google", "108872335")
    assert not profile.identity_lookup_failed
    assert (profile.email, profile.display_name) == (
        "marcelina.davis@example.com",
        "Marcelina Davis",
    )
    assert profile.email_verified is True


def test_code_exchange_sends_the_authorization_code_grant_as_json(workos, standin):
    code, verifier = start(standin)
    workos.exchange_code(
        LoginCallback(code, verifier, redirect_uri=REDIRECT, provider="workos")
    )
    (call,) = standin.calls("authenticate")
    assert call.headers["Content-Type"] == "application/json"
    assert call.body == {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "client_secret": API_KEY,
        "code": code,
        "code_verifier": verifier,
    }


def test_github_spelling_and_null_last_name(workos, standin):
    profile = workos.exchange_code(callback(standin, "github"))
    assert profile.identity == Identity("github", "583231")
    assert (profile.last_name, profile.display_name) == (None, "Octo")


def test_empty_identities_is_no_identity_not_a_failure(workos, standin):
    profile = workos.exchange_code(callback(standin, "password"))
    assert profile.identity is None
    assert not profile.identity_lookup_failed
    assert profile.primary == Identity.workos("user_01J0PASSWORDONLYUSER00000")
    assert profile.display_name == "pat"


def test_several_identities_give_the_smallest_oauth_pair(workos, standin):
    # Microsoft, Google and GitHub, all OAuth: (github, 583231) is smallest.
    profile = workos.exchange_code(callback(standin, "linked"))
    assert profile.identity == Identity("github", "583231")


def test_identities_call_sends_the_api_key_as_bearer(workos, standin):
    workos.exchange_code(callback(standin))
    (call,) = standin.calls("identities")
    assert call.headers["Authorization"] == f"Bearer {API_KEY}"
    assert call.raw_path == f"/user_management/users/{GOOGLE_USER}/identities"


# -- code exchange: failures ----------------------------------------------


def test_unknown_code_fails_the_login(workos, standin):
    with pytest.raises(LoginFailed):
        workos.exchange_code(any_code("01UNKNOWNCODE"))


def test_a_code_is_single_use(workos, standin):
    code, verifier = start(standin)
    workos.exchange_code(LoginCallback(code, verifier))
    with pytest.raises(LoginFailed):
        workos.exchange_code(LoginCallback(code, verifier))


def test_a_wrong_verifier_fails_the_login(workos, standin):
    code, _ = start(standin)
    with pytest.raises(LoginFailed):
        workos.exchange_code(any_code(code))


def test_email_verification_required_is_another_step(workos, standin):
    with pytest.raises(LoginStepRequired) as caught:
        workos.exchange_code(callback(standin, "email_verification"))
    assert caught.value.step == "email_verification_required"
    assert standin.calls("identities") == []


def test_a_rejected_client_secret_is_an_idp_error_logged_as_such(standin, http, caplog):
    wrong = WorkOSIdentityProvider(
        http, api_key="sk_test_wrong", client_id=CLIENT_ID, base_url=standin.url
    )
    with pytest.raises(IdPError) as caught:
        wrong.exchange_code(callback(standin))
    assert type(caught.value) is IdPError
    assert "invalid_client" in str(caught.value)
    (record,) = [r for r in caplog.records if "answered 400" in r.getMessage()]
    assert record.levelno == logging.ERROR


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
        workos.exchange_code(callback(standin))
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
def test_both_error_body_shapes_are_read(mock_provider, status, body, error):
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    with pytest.raises(error) as caught:
        mock_provider(answer).exchange_code(any_code())
    assert type(caught.value) is error


@pytest.mark.parametrize(
    "body",
    [
        {"user": "user_01"},
        [],
        {"user": {"id": 1, "email": "a@example.com"}},
        {"user": {"id": "user_01", "email": "a@example.com", "first_name": 7}},
        {"user": {"id": "user_01", "email": "a@example.com", "last_name": ["x"]}},
        {"user": {"id": "user_01", "email": "a@example.com", "first_name": "a\x00"}},
        {"user": {"id": "user_01", "email": "a\ud800@example.com"}},
        {"user": {"id": "user_\ud800", "email": "a@example.com"}},
        {"user": {"id": "user_01\n", "email": "a@example.com"}},
        {"user": {"id": "u" * 100_000, "email": "a@example.com"}},
    ],
)
def test_a_200_with_wrong_shapes_or_types_is_an_idp_error(mock_provider, body):
    content = json.dumps(body).encode()  # \\ud800 escapes: json= would refuse
    with pytest.raises(IdPError):
        mock_provider(
            routed(auth=lambda request: httpx.Response(200, content=content))
        ).exchange_code(any_code())


# -- identities lookup failures: the login goes on with the alias ----------


@pytest.mark.parametrize(
    "mode", ["500", "429", "slow", "reset", "malformed", "html", "drip_body"]
)
def test_identities_failure_is_reported_not_raised(workos, standin, mode):
    standin.fail("identities", mode, times=2)
    profile = workos.exchange_code(callback(standin))
    assert profile.identity_lookup_failed
    assert profile.identity is None
    assert profile.primary == Identity.workos(GOOGLE_USER)


def test_identities_404_is_a_failed_lookup(workos, standin):
    standin.identities[GOOGLE_USER] = "error_not_found"
    profile = workos.exchange_code(callback(standin))
    assert profile.identity_lookup_failed


@pytest.mark.parametrize("mode", ["401", "403"])
def test_a_refused_identities_call_is_a_failed_lookup_logged_as_an_error(
    workos, standin, caplog, mode
):
    # Our key lacks the permission: it lasts until someone fixes it.
    standin.fail("identities", mode)
    profile = workos.exchange_code(callback(standin))
    assert profile.identity_lookup_failed
    assert profile.primary == Identity.workos(GOOGLE_USER)
    assert len(standin.calls("identities")) == 1  # not retried
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [f"GET identities answered {mode}" in r.getMessage() for r in errors] == [
        True
    ]
    assert not any(
        "lookup failed" in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING
    )


DEEP = b"[" * 100_000 + b"]" * 100_000
NOT_GZIP = {"Content-Encoding": "gzip"}


@pytest.mark.parametrize(
    "answer",
    [
        lambda r: httpx.Response(503, headers=[(b"Retry-After", b"\xb9")], json={}),
        lambda r: httpx.Response(503, headers={"Retry-After": "9" * 5000}, json={}),
        lambda r: httpx.Response(200, content=DEEP),
        lambda r: httpx.Response(400, content=DEEP),
        lambda r: httpx.Response(200, headers=NOT_GZIP, content=b"not gzip at all"),
        lambda r: httpx.Response(200, json=None),
        lambda r: httpx.Response(302, headers={"Location": "https://evil.example"}),
        lambda r: httpx.Response(200, content=b"[" + b" " * MAX_BODY_BYTES + b"]"),
        lambda r: httpx.Response(
            200,
            headers=NOT_GZIP,
            content=gzip.compress(b"[" + b" " * (4 * MAX_BODY_BYTES) + b"]"),
        ),
    ],
    ids=[
        "superscript-retry-after",
        "5000-digit-retry-after",
        "deep-200",
        "deep-error",
        "bad-gzip",
        "null",
        "redirect",
        "too-large",
        "gzip-bomb",
    ],
)
def test_any_hostile_identities_answer_is_a_failed_lookup(mock_provider, answer):
    profile = mock_provider(routed(ident=answer)).exchange_code(any_code())
    assert profile.identity_lookup_failed
    assert profile.primary == Identity.workos("user_01")


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (lambda r: httpx.Response(200, content=DEEP), IdPError),
        (lambda r: httpx.Response(400, content=DEEP), IdPError),
        (
            lambda r: httpx.Response(200, headers=NOT_GZIP, content=b"not gzip"),
            IdPError,
        ),
        (lambda r: httpx.Response(200, content=b" " * (MAX_BODY_BYTES + 1)), IdPError),
        (lambda r: httpx.Response(503, headers={"Retry-After": "9" * 5000}), IdPError),
        (
            lambda r: httpx.Response(429, headers=[(b"Retry-After", b"\xb2")]),
            IdPUnavailable,
        ),
        (lambda r: httpx.Response(204), IdPError),
    ],
    ids=[
        "deep-200",
        "deep-error",
        "bad-gzip",
        "too-large",
        "long-retry-after",
        "superscript-retry-after",
        "no-content",
    ],
)
def test_any_hostile_code_exchange_answer_is_a_domain_error(
    mock_provider, answer, error
):
    with pytest.raises(errors.AuthError) as caught:
        mock_provider(routed(auth=answer)).exchange_code(any_code())
    assert type(caught.value) is error


def test_invalid_grant_is_a_failed_login_whatever_the_retry_after(mock_provider):
    answer = routed(
        auth=lambda r: httpx.Response(
            400, headers=[(b"Retry-After", b"\xb2")], json={"error": "invalid_grant"}
        )
    )
    with pytest.raises(LoginFailed):
        mock_provider(answer).exchange_code(any_code())


# -- one request, and one login, are bounded as a whole ---------------------


@pytest.mark.parametrize("mode", ["drip_headers", "drip_body"])
def test_a_trickling_code_exchange_is_cut_at_the_timeout(workos, standin, mode):
    # Each byte comes well within the 1 s read timeout; the answer never does.
    standin.fail("authenticate", mode)
    started = time.monotonic()
    with pytest.raises(IdPUnavailable):
        workos.exchange_code(callback(standin))
    elapsed = time.monotonic() - started
    assert TIMEOUT - 0.1 < elapsed < TIMEOUT + 1.5  # it did trickle, and was cut


def test_reads_and_their_retries_share_one_budget(standin):
    standin.fail("identities", "slow", times=5)
    with BoundedHttpClient(
        timeout=TIMEOUT, max_retries=4, sleep=lambda seconds: None
    ) as http:
        idp = WorkOSIdentityProvider(
            http, api_key=API_KEY, client_id=CLIENT_ID, base_url=standin.url, budget=1.5
        )
        started = time.monotonic()
        profile = idp.exchange_code(callback(standin))
        elapsed = time.monotonic() - started
    assert profile.identity_lookup_failed
    assert len(standin.calls("identities")) == 2  # the budget ran out, not retries
    assert elapsed < 1.5 + 1.5


def test_identities_read_is_retried_once_after_a_5xx(workos, standin, sleeps):
    standin.fail("identities", "500", times=1)
    profile = workos.exchange_code(callback(standin))
    assert profile.identity == Identity("google", "108872335")
    assert len(standin.calls("identities")) == 2
    assert sleeps == [0.2]


def test_retry_after_beyond_the_cap_is_not_waited_for(workos, standin, sleeps):
    standin.fail("identities", "429", times=1)  # Retry-After: 7 > the 2 s cap
    profile = workos.exchange_code(callback(standin))
    assert profile.identity_lookup_failed
    assert len(standin.calls("identities")) == 1
    assert sleeps == []


# -- the user lookup --------------------------------------------------------


def test_missing_email_in_the_exchange_is_read_from_the_user(mock_provider):
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/authenticate"):
            return httpx.Response(200, json={"user": {"id": "user_01"}})
        if path.endswith("/identities"):
            return httpx.Response(200, json=[])
        return httpx.Response(200, json={"id": "user_01", "email": "a@example.com"})

    profile = mock_provider(answer).exchange_code(any_code())
    assert profile.email == "a@example.com"


def test_a_failed_user_lookup_fails_the_exchange(mock_provider):
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/authenticate"):
            return httpx.Response(200, json={"user": {"id": "user_01"}})
        return httpx.Response(404, json={"code": "entity_not_found"})

    with pytest.raises(IdPError):
        mock_provider(answer).exchange_code(any_code())


# -- authorization URL -----------------------------------------------------


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def test_authorization_url_carries_every_parameter(workos, standin):
    url = workos.authorization_url(
        AuthorizationRequest(state="st", code_challenge="ch", login_hint="a@b.c")
    )
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
        AuthorizationRequest(
            state="s&t=1", code_challenge="ch", login_hint=hint, screen_hint="sign-up"
        )
    )
    params = query(url)
    assert params["login_hint"] == [hint]
    assert params["state"] == ["s&t=1"]
    assert params["provider"] == ["authkit"]
    assert params["redirect_uri"] == [REDIRECT]
    assert params["screen_hint"] == ["sign-up"]
    assert "#" not in url


@pytest.mark.parametrize("screen_hint", ["x&y=1", "sign-in\ud800", "Sign-In"])
def test_unknown_screen_hint_is_a_bad_request(workos, screen_hint):
    with pytest.raises(InvalidRequest):
        workos.authorization_url(
            AuthorizationRequest(state="s", code_challenge="c", screen_hint=screen_hint)
        )


@pytest.mark.parametrize(
    "login_hint", ["\ud800", "a\udc00@example.com", "a@b.c\r\nx", "a" * 321]
)
def test_a_login_hint_that_cannot_travel_is_a_bad_request(workos, login_hint):
    with pytest.raises(InvalidRequest):
        workos.authorization_url(
            AuthorizationRequest(state="s", code_challenge="c", login_hint=login_hint)
        )


def test_a_non_ascii_login_hint_travels_encoded(workos):
    url = workos.authorization_url(
        AuthorizationRequest(
            state="s", code_challenge="c", login_hint="zoë@exämple.com"
        )
    )
    assert url.isascii()
    assert query(url)["login_hint"] == ["zoë@exämple.com"]


def test_connection_id_replaces_the_provider(http):
    idp = WorkOSIdentityProvider(
        http, api_key=API_KEY, client_id=CLIENT_ID, connection_id="conn_01"
    )
    url = idp.authorization_url(
        AuthorizationRequest(state="s", code_challenge="c", redirect_uri=REDIRECT)
    )
    assert url.startswith("https://api.workos.com/user_management/authorize?")
    assert query(url)["connection_id"] == ["conn_01"]
    assert "provider" not in query(url)


def test_authorization_url_without_a_redirect_uri_is_not_configured(http):
    idp = WorkOSIdentityProvider(http, api_key=API_KEY, client_id=CLIENT_ID)
    with pytest.raises(errors.NotConfigured):
        idp.authorization_url(AuthorizationRequest(state="s", code_challenge="c"))


@pytest.mark.parametrize(
    "base_url",
    ["http://api.workos.com", "ftp://api.workos.com", "https://", "workos.com"],
)
def test_the_api_key_only_travels_over_https_or_to_loopback(http, base_url):
    with pytest.raises(errors.NotConfigured, match="WORKOS_BASE_URL"):
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
    url = idp.authorization_url(
        AuthorizationRequest(state="s", code_challenge="c", redirect_uri=REDIRECT)
    )
    assert url.startswith(base_url.rstrip("/") + "/user_management/authorize?")


# -- Retry-After -----------------------------------------------------------

NOW = 1_700_000_000.0


def test_retry_after_as_an_http_date_is_passed_on(mock_provider):
    when = email.utils.formatdate(NOW + 30, usegmt=True)
    answer = routed(
        auth=lambda r: httpx.Response(429, headers={"Retry-After": when}, json={})
    )
    with pytest.raises(IdPUnavailable) as caught:
        mock_provider(answer, now=lambda: NOW).exchange_code(any_code())
    assert caught.value.retry_after == 30


def test_retry_after_is_read_only_on_429_and_5xx(mock_provider):
    answer = routed(
        auth=lambda r: httpx.Response(
            404, headers={"Retry-After": "5"}, json={"code": "not_found"}
        )
    )
    with pytest.raises(IdPError) as caught:
        mock_provider(answer).exchange_code(any_code())
    assert caught.value.retry_after is None


# -- secrets never reach logs, errors or their causes ------------------------

SECRETS_IN_FIXTURES = (
    "eyJhb.nNzb19vaWRjX2tleV9.lc5Uk4yWVk5In0",
    "yAjhKk123NLIjdrBdGZPf8pLIDvK",
    "YQyCkYfuVw2mI3tzSrk2C1Y7S",
)


def assert_no_secret(exc: BaseException, secrets: tuple[str, ...]) -> None:
    chain = exception_chain(exc)
    # Nothing chained at all: httpx errors carry the request (key, code,
    # verifier) and JSONDecodeError.doc the body (WorkOS tokens).
    assert chain == [exc]
    text = f"{exc!s} {exc!r} {exc.args!r} {vars(exc)!r}"
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize(
    "scenario",
    [
        "success",
        "reused",
        "wrong_verifier",
        "wrong_client_secret",
        "email_verification",
        "authenticate:500",
        "authenticate:401",
        "authenticate:429",
        "authenticate:slow",
        "authenticate:reset",
        "authenticate:malformed",
        "authenticate:html",
        "authenticate:drip_body",
        "identities:500",
        "identities:slow",
        "identities:reset",
        "identities:html",
        "identities:403",
    ],
)
def test_no_secret_reaches_the_logs_or_the_error(
    workos, standin, http, caplog, scenario
):
    caplog.set_level(logging.DEBUG, logger="wikibot_auth")
    code, verifier = start(
        standin, "email_verification" if scenario == "email_verification" else "google"
    )
    idp = workos
    if scenario == "wrong_client_secret":
        idp = WorkOSIdentityProvider(
            http,
            api_key="sk_test_WRONG_SECRET",
            client_id=CLIENT_ID,
            base_url=standin.url,
        )
    if ":" in scenario:
        route, mode = scenario.split(":")
        standin.fail(route, mode, times=2)
    if scenario == "reused":
        workos.exchange_code(LoginCallback(code, verifier))
    if scenario == "wrong_verifier":
        verifier = new_code_verifier()
    secrets = (API_KEY, "sk_test_WRONG_SECRET", code, verifier, *SECRETS_IN_FIXTURES)
    try:
        idp.exchange_code(LoginCallback(code, verifier))
    except errors.AuthError as exc:
        assert_no_secret(exc, secrets)
    for secret in secrets:
        assert secret not in caplog.text
    assert "WorkOS" in caplog.text  # the adapter did log something


def raise_(error: type[httpx.HTTPError]):
    def answer(request: httpx.Request) -> httpx.Response:
        raise error("failed", request=request)  # type: ignore[call-arg]

    return answer


TOKENS_BODY = (
    b'{"user": {"id": "user_1"}, "access_token": "eyJSECRETACCESS",'
    b' "refresh_token": "RSECRETREFRESH"'
)


@pytest.mark.parametrize(
    "answer",
    [
        raise_(httpx.ReadTimeout),
        raise_(httpx.ConnectError),
        raise_(httpx.RemoteProtocolError),
        lambda r: httpx.Response(200, content=TOKENS_BODY),
        lambda r: httpx.Response(400, content=TOKENS_BODY),
        lambda r: httpx.Response(200, headers=NOT_GZIP, content=TOKENS_BODY),
        lambda r: httpx.Response(200, content=b"[" * 100_000),
    ],
    ids=[
        "timeout",
        "connect",
        "protocol",
        "truncated",
        "truncated-error",
        "bad-gzip",
        "deep",
    ],
)
def test_raised_errors_carry_no_secret_in_their_chain(mock_provider, answer):
    verifier = new_code_verifier()
    with pytest.raises(errors.AuthError) as caught:
        mock_provider(answer).exchange_code(LoginCallback("CODE_SECRET", verifier))
    assert_no_secret(
        caught.value,
        (API_KEY, "CODE_SECRET", verifier, "eyJSECRETACCESS", "RSECRETREFRESH"),
    )


def test_the_request_id_is_logged(workos, standin, caplog):
    caplog.set_level(logging.WARNING, logger="wikibot_auth")
    with pytest.raises(LoginFailed):
        workos.exchange_code(any_code("01UNKNOWN"))
    assert "req_01INVALIDGRANT" in caplog.text


# -- the fixtures themselves -------------------------------------------------


@pytest.mark.parametrize(
    "path", sorted(FIXTURES.glob("*.json")), ids=lambda path: path.stem
)
def test_every_fixture_names_its_reference_page_and_has_the_served_shape(path):
    data = json.loads(path.read_text())
    assert set(data) <= {"_source", "status", "headers", "body"}
    assert data["_source"].startswith("https://workos.com/docs/reference/")
    assert isinstance(data["status"], int)
    assert 200 <= data["status"] < 600
    assert all(isinstance(v, str) for v in data.get("headers", {}).values())
    if data["status"] >= 400:  # one of WorkOS's two error shapes
        body = data["body"]
        assert isinstance(body.get("error") or body.get("code"), str)
    if path.stem.startswith("identities_"):
        assert isinstance(data["body"], list)


def test_empty_optional_strings_are_absent(mock_provider):
    body = {"user": {"id": "user_01", "email": "a@example.com", "first_name": ""}}
    profile = mock_provider(
        routed(auth=lambda r: httpx.Response(200, json=body))
    ).exchange_code(any_code())
    assert profile.first_name is None
    assert profile.display_name == "a"


def test_a_redirect_is_an_idp_error_and_is_not_followed(mock_provider):
    urls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return httpx.Response(307, headers={"Location": "https://evil.example/x"})

    with pytest.raises(IdPError):
        mock_provider(answer).exchange_code(any_code())
    assert urls == ["https://workos.invalid/user_management/authenticate"]
