"""The shared IdP transport over real sockets to the WorkOS stand-in (its
routes serve as any JSON API here) and to a hostile server, and over
MockTransport: deadlines (the caller's, and the worker's: its connection is cut),
the bounded worker pool, the body cap, retries and Retry-After, and secrets."""

from __future__ import annotations

import base64
import email.utils
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.integration.hostile_server import MODES, HostileServer
from tests.integration.workos_standin import API_KEY, WorkOSStandIn
from wikibot_auth.adapters.bounded_http import (
    MAX_BODY_BYTES,
    BoundedHttpClient,
    HttpAnswer,
    decode_json,
    is_safe_url,
    open_bounded_http_client,
    parse_retry_after,
)
from wikibot_auth.adapters.http_attempt import Attempt
from wikibot_auth.domain.errors import AuthError, IdPError, IdPUnavailable

TIMEOUT = 1.0
GENEROUS = 1.5  # seconds of slack for a shared, noisy machine
BEARER = {"Authorization": f"Bearer {API_KEY}"}
WORKER = "wikibot-auth-http"


def identities_url(standin: WorkOSStandIn, user_id: str = "user_01") -> str:
    return f"{standin.url}/user_management/users/{user_id}/identities"


def get(http: BoundedHttpClient, url: str, **options: Any) -> HttpAnswer:
    return http.request(
        "GET", url, service="Test", route="identities", headers=BEARER, **options
    )


def call_in_thread(function: Callable[[], Any]) -> Callable[[], Any]:
    """Start ``function`` in a thread; the returned callable joins it and
    returns what it returned or raised."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(function())
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def join() -> Any:
        thread.join(30)
        return outcome[0]

    return join


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# -- answers ----------------------------------------------------------------


def test_an_answer_of_any_status_is_returned_whole(standin):
    with BoundedHttpClient(timeout=TIMEOUT) as http:
        answer = get(http, identities_url(standin))
    assert answer.status == 404  # the stand-in knows no such user
    assert decode_json(answer.body)[1]["code"] == "entity_not_found"
    assert answer.retry_after is None


def test_a_form_with_basic_auth_and_extra_headers_arrives_as_sent(standin):
    with BoundedHttpClient(timeout=TIMEOUT) as http:
        http.request(
            "POST",
            f"{standin.url}/user_management/authenticate",
            service="Test",
            route="token",
            data={"grant_type": "authorization_code", "code": "a b&c"},
            headers={"Accept": "application/json"},
            auth=("client", "s3cret"),
        )
    (call,) = standin.calls("authenticate")
    assert call.body == "grant_type=authorization_code&code=a+b%26c"
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert call.headers["Accept"] == "application/json"
    basic = base64.b64encode(b"client:s3cret").decode()
    assert call.headers["Authorization"] == f"Basic {basic}"
    assert call.headers["User-Agent"] == "wikibot-auth"


def test_a_json_body_and_a_form_together_are_a_programming_error(mock_http):
    http = mock_http(lambda r: httpx.Response(200))
    with pytest.raises(ValueError, match="not both"):
        http.request(
            "POST", "https://x.invalid/", service="T", route="t", json={}, data={}
        )


def test_redirects_are_never_followed(mock_http):
    urls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return httpx.Response(307, headers={"Location": "https://evil.example/x"})

    got = mock_http(answer).request(
        "GET", "https://idp.invalid/a", service="T", route="a", retry=True
    )
    assert got.status == 307
    assert urls == ["https://idp.invalid/a"]


def test_a_cookie_one_answer_sets_never_rides_on_another_request(mock_http):
    # One client serves every user's login: a cookie set during Alice's must
    # not travel with Bob's, nor back to the same provider later.
    sent: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("cookie"))
        return httpx.Response(
            200,
            json={},
            headers={"Set-Cookie": "session=alice-secret; Path=/; Secure"},
        )

    http = mock_http(answer)
    for _ in range(2):
        http.request("GET", "https://idp.invalid/a", service="T", route="a")
    assert sent == [None, None]


@pytest.mark.parametrize(
    "url", ["http://idp.example/token", "ftp://127.0.0.1/", "https://", "idp"]
)
def test_credentials_never_travel_over_plain_http(mock_http, url):
    sent: list[httpx.Request] = []
    http = mock_http(lambda r: sent.append(r) or httpx.Response(200))
    with pytest.raises(IdPError):
        http.request("POST", url, service="T", route="t", auth=("id", "secret"))
    assert sent == []


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://idp.example/x", True),
        ("http://127.0.0.1:8080", True),
        ("http://[::1]:1/", True),
        ("http://localhost/", True),
        ("http://idp.example/", False),
        ("http://10.0.0.1/", False),
    ],
)
def test_only_https_or_loopback_urls_are_safe(url, safe):
    assert is_safe_url(url) is safe


@pytest.mark.parametrize(
    "answer",
    [
        lambda r: httpx.Response(200, content=b" " * (MAX_BODY_BYTES + 1)),
        lambda r: httpx.Response(
            200, content=iter([b" " * 65536] * (MAX_BODY_BYTES // 65536 + 1))
        ),
        lambda r: httpx.Response(
            200, headers={"Content-Length": str(MAX_BODY_BYTES + 1)}, content=b"{}"
        ),
        lambda r: httpx.Response(
            200, headers={"Content-Encoding": "gzip"}, content=b"not gzip"
        ),
    ],
    ids=["too-large", "too-large-unannounced", "announced-too-large", "bad-gzip"],
)
def test_a_body_over_the_cap_or_undecodable_is_an_idp_error(mock_http, answer):
    with pytest.raises(IdPError) as caught:
        mock_http(answer).request("GET", "https://x.invalid/", service="T", route="t")
    assert type(caught.value) is IdPError


def test_a_body_at_the_cap_is_read(mock_http):
    body = b"[" + b" " * (MAX_BODY_BYTES - 2) + b"]"
    answer = mock_http(lambda r: httpx.Response(200, content=body)).request(
        "GET", "https://x.invalid/", service="T", route="t"
    )
    assert decode_json(answer.body) == (True, [])


@pytest.mark.parametrize(
    "body", [b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000, b'{"a": ', b"\xff", b""]
)
def test_decode_json_says_no_without_raising(body):
    assert decode_json(body) == (False, None)


def test_decode_json_reads_null_as_a_value():
    assert decode_json(b"null") == (True, None)


# -- one request is bounded as a whole ----------------------------------------


@pytest.mark.parametrize("mode", ["drip_headers", "drip_body", "slow"])
def test_a_silent_or_trickling_server_releases_the_caller_at_the_timeout(standin, mode):
    # Each dripped byte comes well within the 1 s read timeout; the answer never
    # does. The container's own factory builds the client.
    standin.fail("identities", mode)
    resource = open_bounded_http_client(TIMEOUT)
    http = next(resource)
    started = time.monotonic()
    try:
        with pytest.raises(IdPUnavailable) as caught:
            get(http, identities_url(standin))
    finally:
        resource.close()
    elapsed = time.monotonic() - started
    assert TIMEOUT - 0.1 < elapsed < TIMEOUT + GENEROUS  # it did wait, and was cut
    assert caught.value.retry_after is None  # sent, and the IdP did not answer


def test_the_caller_s_deadline_cuts_a_request_shorter_than_the_timeout(standin):
    standin.fail("identities", "drip_headers")
    with BoundedHttpClient(timeout=5.0) as http:
        started = time.monotonic()
        with pytest.raises(IdPUnavailable):
            get(http, identities_url(standin), deadline=time.monotonic() + 0.5)
        assert time.monotonic() - started < 0.5 + GENEROUS


# -- the bounded worker pool ------------------------------------------------


def test_more_slow_requests_than_workers_each_end_by_their_deadline(standin):
    # Two workers, five callers with one deadline: the stand-in holds each
    # request it gets for seconds. Every caller is released by the deadline,
    # and the three that found no worker free were never sent. (A worker is
    # free again once its request is cut at the deadline: a queued request with
    # a later deadline could then still be sent, so the deadline is shared.)
    standin.fail("identities", "drip_headers", times=5)
    barrier = threading.Barrier(5)
    deadline = time.monotonic() + TIMEOUT

    def caller(index: int) -> Callable[[], Any]:
        def call() -> tuple[float, Any]:
            barrier.wait()
            started = time.monotonic()
            try:
                user = identities_url(standin, f"user_{index}")
                return 0.0, get(http, user, deadline=deadline)
            except IdPUnavailable as exc:
                return time.monotonic() - started, exc

        return call_in_thread(call)

    with BoundedHttpClient(timeout=TIMEOUT, max_workers=2) as http:
        joins = [caller(index) for index in range(5)]
        outcomes = [join() for join in joins]
    assert all(isinstance(error, IdPUnavailable) for _, error in outcomes)
    assert all(elapsed < TIMEOUT + GENEROUS for elapsed, _ in outcomes)
    retry_afters = sorted((error.retry_after or 0) for _, error in outcomes)
    assert retry_afters == [0, 0, 1, 1, 1]  # sent and cut twice; unsent 3 times
    assert len(standin.calls("identities")) == 2


def test_a_request_queued_past_its_deadline_is_never_sent(standin):
    standin.slow_seconds = 0.75  # the first answer drips for 1.5 s
    standin.fail("identities", "drip_headers")
    with BoundedHttpClient(timeout=6.0, max_workers=1) as http:
        first = call_in_thread(lambda: get(http, identities_url(standin, "user_A")))
        assert wait_until(lambda: len(standin.calls("identities")) == 1)
        deadline = time.monotonic() + 0.3
        with pytest.raises(IdPUnavailable) as caught:
            get(http, identities_url(standin, "user_B"), deadline=deadline)
        assert caught.value.retry_after == 1
        # Queued behind B: sent once the worker is free, so B had its chance.
        third = get(http, identities_url(standin, "user_C"))
        assert isinstance(first(), IdPUnavailable)
    assert third.status == 404
    paths = [call.raw_path for call in standin.calls("identities")]
    assert [path.split("/")[3] for path in paths] == ["user_A", "user_C"]


def test_closing_cancels_queued_requests_and_ends_the_workers(standin):
    before = set(threading.enumerate())
    standin.fail("identities", "drip_headers")
    resource = open_bounded_http_client(5.0, max_workers=1)
    http = next(resource)
    first = call_in_thread(
        lambda: get(
            http, identities_url(standin, "user_A"), deadline=time.monotonic() + 0.5
        )
    )
    assert wait_until(lambda: len(standin.calls("identities")) == 1)
    started = time.monotonic()
    queued = call_in_thread(lambda: get(http, identities_url(standin, "user_B")))
    time.sleep(0.2)  # B is waiting for the one worker
    resource.close()
    assert isinstance(queued(), IdPUnavailable)
    assert time.monotonic() - started < 5.0 - GENEROUS  # released, not timed out
    assert http.is_closed
    with pytest.raises(IdPError) as caught:
        get(http, identities_url(standin, "user_C"))
    assert type(caught.value) is IdPError
    assert isinstance(first(), IdPUnavailable)
    assert wait_until(
        lambda: (
            not [
                t
                for t in set(threading.enumerate()) - before
                if t.name.startswith(WORKER)
            ]
        )
    )
    paths = [call.raw_path for call in standin.calls("identities")]
    assert [path.split("/")[3] for path in paths] == ["user_A"]


def test_a_closed_client_is_an_idp_error_and_sends_nothing(mock_http, caplog):
    sent: list[httpx.Request] = []
    http = mock_http(lambda r: sent.append(r) or httpx.Response(200))
    http.close()  # what shutdown_resources() does under a cached Singleton
    with pytest.raises(IdPError):
        http.request("GET", "https://x.invalid/", service="T", route="t")
    assert sent == []
    assert "RuntimeError" in caplog.text


def test_no_thread_to_spare_is_idp_unavailable_not_a_crash(mock_http, monkeypatch):
    sent: list[httpx.Request] = []
    http = mock_http(lambda r: sent.append(r) or httpx.Response(200))

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    with pytest.raises(IdPUnavailable) as caught:
        http.request("POST", "https://x.invalid/", service="T", route="t", json={})
    assert caught.value.retry_after == 1
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    assert sent == []


# -- a hostile server holds no worker past the deadline -----------------------


def workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(WORKER)]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("mode", MODES)
def test_a_hostile_server_holds_neither_caller_nor_worker_past_the_deadline(
    standin, mode
):
    # One worker. The hostile server would hold each connection for 30 s: the
    # caller is released at its deadline, and so is the worker (its connection
    # shut down), so the next request, to a healthy server, gets it at once.
    # Three rounds, so that a socket or thread left per request would show.
    threads_before, fds_before = set(workers()), open_fds()
    with (
        HostileServer.running(mode) as hostile,
        BoundedHttpClient(timeout=TIMEOUT, max_workers=1) as http,
    ):
        for round_ in range(1, 4):
            started = time.monotonic()
            with pytest.raises(IdPUnavailable) as caught:
                get(http, hostile.url, deadline=started + 0.5)
            assert time.monotonic() - started < 0.5 + GENEROUS
            assert caught.value.retry_after is None  # it was sent
            assert hostile.accepted == round_
            answer = get(http, identities_url(standin), deadline=time.monotonic() + 1)
            assert answer.status == 404
            assert wait_until(lambda: hostile.hung_up == round_, 2.0)  # noqa: B023
        assert len(set(workers()) - threads_before) <= 1
    assert wait_until(lambda: not set(workers()) - threads_before, 2.0)
    assert wait_until(lambda: open_fds() <= fds_before + 2, 2.0)


def test_eight_trickling_answers_do_not_wedge_the_default_pool(standin):
    # The review's case: as many header trickles as workers, at once, then a
    # healthy request on the same client.
    with (
        HostileServer.running("headers") as hostile,
        BoundedHttpClient(timeout=TIMEOUT) as http,  # 8 workers
    ):
        barrier = threading.Barrier(8)

        def call() -> Any:
            barrier.wait()
            return get(http, hostile.url, deadline=time.monotonic() + 0.5)

        joins = [call_in_thread(call) for _ in range(8)]
        assert all(isinstance(join(), IdPUnavailable) for join in joins)
        assert hostile.accepted == 8
        assert get(http, identities_url(standin)).status == 404
        assert wait_until(lambda: hostile.hung_up == 8, 2.0)


def test_a_connection_opened_after_the_cut_is_shut_down_at_once():
    # The deadline passed while the worker was still connecting: the socket it
    # then gets is shut down as soon as httpcore reports it.
    near, far = socket.socketpair()

    class Stream:
        def get_extra_info(self, name: str) -> Any:
            return near if name == "socket" else None

    def send(until: float, trace: Callable[[str, dict[str, Any]], None]) -> bytes:
        trace("connection.connect_tcp.complete", {"return_value": Stream()})
        return near.recv(1)  # blocks until the peer writes, without the cut

    near.settimeout(5.0)  # so that a failure is not a hang
    attempt = Attempt(send, time.monotonic() + 10)
    attempt.cut()
    with near, far:
        assert attempt.run() == b""


def test_a_connection_that_cannot_be_watched_is_not_used(standin, monkeypatch):
    # No descriptor to spare for the watch: the request fails as unreachable
    # rather than run beyond the caller's reach, and nothing is sent.
    def no_descriptor(self: socket.socket) -> socket.socket:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(socket.socket, "dup", no_descriptor)
    with BoundedHttpClient(timeout=TIMEOUT) as http:
        with pytest.raises(IdPUnavailable) as caught:
            get(http, identities_url(standin))
    assert caught.value.retry_after is None
    assert standin.calls("identities") == []


# -- retries: reads only, Retry-After honoured within the budget -------------


def scripted(*answers: httpx.Response | type[httpx.HTTPError]):
    calls: list[httpx.Request] = []
    queue = list(answers)

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        item = queue.pop(0)
        if isinstance(item, httpx.Response):
            return item
        raise item("failed", request=request)  # type: ignore[call-arg]

    return answer, calls


def send(http: BoundedHttpClient, retry: bool, **options: Any) -> HttpAnswer:
    return http.request(
        "GET", "https://x.invalid/", service="T", route="t", retry=retry, **options
    )


@pytest.mark.parametrize(
    "first",
    [
        httpx.Response(503),
        httpx.Response(429, headers={"Retry-After": "1"}),
        httpx.ConnectError,
        httpx.ReadTimeout,
    ],
    ids=["503", "429", "connect", "timeout"],
)
def test_a_read_is_retried_after_a_5xx_429_or_transport_failure(mock_http, first):
    answer, calls = scripted(first, httpx.Response(200, json=[]))
    assert send(mock_http(answer), retry=True).status == 200
    assert len(calls) == 2


def test_a_request_not_marked_retryable_is_sent_once_whatever_the_status(mock_http):
    answer, calls = scripted(httpx.Response(503), httpx.Response(200))
    assert send(mock_http(answer), retry=False).status == 503
    assert len(calls) == 1


def test_a_request_not_marked_retryable_is_sent_once_whatever_fails(mock_http):
    answer, calls = scripted(httpx.ConnectError, httpx.Response(200))
    with pytest.raises(IdPUnavailable):
        send(mock_http(answer), retry=False)
    assert len(calls) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 501])
def test_other_statuses_are_not_retried(mock_http, status):
    answer, calls = scripted(httpx.Response(status), httpx.Response(200))
    assert send(mock_http(answer), retry=True).status == status
    assert len(calls) == 1


def test_retry_after_within_the_cap_is_waited_for(mock_http):
    sleeps: list[float] = []
    answer, calls = scripted(
        httpx.Response(503, headers={"Retry-After": "1"}), httpx.Response(200)
    )
    assert send(mock_http(answer, sleep=sleeps.append), retry=True).status == 200
    assert (len(calls), sleeps) == (2, [1.0])


def test_retry_after_beyond_the_cap_is_answered_at_once(mock_http):
    sleeps: list[float] = []
    answer, calls = scripted(
        httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200)
    )
    got = send(mock_http(answer, sleep=sleeps.append, max_retry_wait=2.0), True)
    assert (got.status, got.retry_after) == (429, 7)
    assert (len(calls), sleeps) == (1, [])


def test_a_wait_that_does_not_fit_the_deadline_is_not_taken(mock_http):
    sleeps: list[float] = []
    answer, calls = scripted(
        httpx.Response(503, headers={"Retry-After": "2"}), httpx.Response(200)
    )
    http = mock_http(answer, sleep=sleeps.append)
    got = send(http, True, deadline=time.monotonic() + 1.0)
    assert got.status == 503
    assert (len(calls), sleeps) == (1, [])


def test_backoff_doubles_and_retries_stop_at_the_maximum(mock_http):
    sleeps: list[float] = []
    answer, calls = scripted(*[httpx.ConnectError] * 4)
    http = mock_http(answer, sleep=sleeps.append, max_retries=3, backoff=0.1)
    with pytest.raises(IdPUnavailable):
        send(http, True, deadline=time.monotonic() + 10)
    assert len(calls) == 4
    assert sleeps == [0.1, 0.2, 0.4]


def test_the_deadline_is_the_budget_of_one_operation(mock_http):
    http = mock_http(lambda r: httpx.Response(200), timeout=3.0)
    now = time.monotonic()
    assert now + 6.0 <= http.deadline() <= time.monotonic() + 6.0
    assert http.deadline(0.5) <= time.monotonic() + 0.5
    huge = mock_http(lambda r: httpx.Response(200), timeout=60.0)
    assert huge.deadline() <= time.monotonic() + 20.0  # MAX_BUDGET


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
        ("9999999999", 3600),
        ("99999999999", None),
        ("9" * 5000, None),
        ("²", None),
        ("٣", None),
        ("soon", None),
        ("-5", None),
        ("Mon, 01 Jan 0001 00:00:00 +2359", 0),
        ("Fri, 31 Dec 9999 23:59:59 -2359", 3600),
        (None, None),
    ],
)
def test_retry_after_in_seconds_or_as_an_http_date(value, seconds):
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    ("status", "retry_after"), [(429, 30), (503, 30), (404, None), (200, None)]
)
def test_retry_after_is_read_on_429_and_5xx_only(mock_http, status, retry_after):
    when = email.utils.formatdate(NOW + 30, usegmt=True)
    http = mock_http(
        lambda r: httpx.Response(status, headers={"Retry-After": when}),
        now=lambda: NOW,
    )
    assert send(http, retry=False).retry_after == retry_after


# -- secrets ---------------------------------------------------------------

SECRETS = ("CLIENT_SECRET_X", "CODE_SECRET_X", "VERIFIER_SECRET_X", "eyJTOKEN")


def exception_chain(exc: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    stack = [exc]
    while stack:
        item = stack.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        stack += [item.__cause__, item.__context__]
    return seen


def raising(error: type[Exception]) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        if issubclass(error, httpx.RequestError):
            raise error("failed", request=request)
        raise error("failed")

    return answer


@pytest.mark.parametrize(
    "answer",
    [
        raising(httpx.ReadTimeout),
        raising(httpx.ConnectError),
        raising(httpx.RemoteProtocolError),
        raising(ValueError),
        lambda r: httpx.Response(
            200, headers={"Content-Encoding": "gzip"}, content=b'{"t": "eyJTOKEN"}'
        ),
        lambda r: httpx.Response(200, content=b" " * (MAX_BODY_BYTES + 1)),
    ],
    ids=["timeout", "connect", "protocol", "other", "bad-gzip", "too-large"],
)
def test_no_secret_of_a_form_request_reaches_an_error_or_a_log(
    mock_http, caplog, answer
):
    caplog.set_level(logging.DEBUG, logger="wikibot_auth")
    http = mock_http(answer)
    with pytest.raises(AuthError) as caught:
        http.request(
            "POST",
            "https://idp.invalid/token",
            service="Test",
            route="token",
            data={"code": "CODE_SECRET_X", "code_verifier": "VERIFIER_SECRET_X"},
            auth=("client", "CLIENT_SECRET_X"),
            headers={"X-Api-Key": "CLIENT_SECRET_X"},
            retry=True,
        )
    error = caught.value
    assert exception_chain(error) == [error]  # httpx errors hold the request
    text = f"{error!s} {error!r} {error.args!r} {vars(error)!r} {caplog.text}"
    for secret in SECRETS:
        assert secret not in text
    assert "Test POST token" in caplog.text


def test_an_answer_s_repr_shows_neither_body_nor_headers():
    answer = HttpAnswer(200, httpx.Headers({"Set-Cookie": "eyJTOKEN"}), b"eyJTOKEN")
    assert "eyJTOKEN" not in repr(answer)
