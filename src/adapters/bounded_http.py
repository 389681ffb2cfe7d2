"""Send one request to an identity provider, and answer within its deadline.

The one transport under the IdP adapters (WorkOS, OpenID Connect, GitHub); it
implements no port and knows no adapter. One ``httpx.Client`` (redirects never
followed, cookies never kept) and a bounded pool of worker threads: the request
runs in a worker while the caller waits at most until its deadline. httpx
bounds each connect/read/write step, and a server trickling a byte at a time
never trips them, so at the deadline the caller also cuts the request
(``http_attempt``): it shuts down the socket of the request's connection, and
the worker, blocked in a trickled status line, header or body, a TLS handshake
or a silent read, is free again at once. Each request has a connection of its
own (no idle one is kept: IdP calls come at login only), so the cut always
finds its socket and never touches another request's. This keeps the
synchronous ``transport``, the pool and its guarantees as they were, where
``httpx.AsyncClient`` under ``asyncio.wait_for`` would have replaced them all.
Not cut: the DNS lookup (the resolver's own timeouts) and a connect (the time
left, per address). A request still queued at its deadline is never sent.
Answers are capped at ``MAX_BODY_BYTES``; reads (never a code exchange) are
retried after a transport failure, a 429 or a 5xx, honouring ``Retry-After``.
Every failure is an ``IdPUnavailable`` or an ``IdPError`` raised with nothing
chained: httpx's exceptions carry the request (API keys, codes, verifiers,
client secrets) and JSON errors the body (tokens), so neither reaches a log
line, a message or an exception's ``__cause__``/``__context__``.
"""

from __future__ import annotations

import concurrent.futures
import email.utils
import http.cookiejar
import ipaddress
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx

from ..domain.errors import AuthError, IdPError, IdPUnavailable
from .http_attempt import Attempt, TooLate, Trace

logger = logging.getLogger("wikibot_auth.http")

DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_WORKERS = 8
# One operation (a code exchange with its reads and retries) stays well under
# API Gateway's 29 s integration limit whatever the timeout.
MAX_BUDGET = 20.0
MAX_BODY_BYTES = 1 << 20
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 3600
USER_AGENT = "wikibot-auth"
_DELTA_SECONDS = re.compile(r"[0-9]{1,10}")


def parse_retry_after(value: str | None, now: float) -> int | None:
    """``Retry-After`` as whole seconds from ``now`` (epoch seconds), at most
    ``MAX_RETRY_AFTER``: delta-seconds (ASCII digits, at most ten) or an
    HTTP-date; anything else is None."""
    if value is None:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        seconds = int(value)
    elif len(value) <= 64:
        try:
            when = email.utils.parsedate_to_datetime(value)
            if when.tzinfo is None:
                return None
            seconds = math.ceil(when.timestamp() - now)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    else:
        return None
    return min(max(seconds, 0), MAX_RETRY_AFTER)


def decode_json(body: bytes) -> tuple[bool, Any]:
    """``(True, value)`` for a JSON body, else ``(False, None)``; never raises.

    Neither the decoder's error (its ``doc`` is the body, which may hold
    tokens) nor a ``RecursionError`` from a deeply nested body escapes.
    """
    try:
        return True, json.loads(body)
    except (ValueError, RecursionError):
        return False, None


def is_safe_url(url: str) -> bool:
    """True for an https URL, or plain http to a loopback host: credentials
    travel with every request."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return True
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return parts.scheme == "http" and loopback


@attrs.frozen
class HttpAnswer:
    """An answer of any status, its body whole (at most ``MAX_BODY_BYTES``).
    ``retry_after`` is the parsed ``Retry-After`` of a 429 or 5xx, else None."""

    status: int
    headers: httpx.Headers = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)
    retry_after: int | None = None


class _NoCookies(http.cookiejar.CookieJar):
    """A jar that keeps and sends nothing: the one client serves every
    user's login, so a cookie set by an answer during one login must never
    travel with another's request (and reading ``Set-Cookie`` costs every
    answer its headers again)."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def add_cookie_header(self, request: Any) -> None:
        return None


class _TooLarge(Exception):
    """The body is over ``MAX_BODY_BYTES``."""


@attrs.frozen
class RetryPolicy:
    """Reads retried ``max_retries`` times, the wait doubling, at most ``max_wait``."""

    max_retries: int
    initial_backoff: float
    max_wait: float

    def backoff(self, attempt: int) -> float:
        return min(self.initial_backoff * 2.0**attempt, self.max_wait)


class BoundedHttpClient:
    """One ``httpx.Client`` and ``max_workers`` threads, shared by the IdP
    adapters (a container ``Resource``: see ``open_bounded_http_client``).

    ``timeout`` bounds one request as a whole (connect, send, headers, body);
    a request also ends at the deadline its caller passes. Reads retry at most
    ``max_retries`` times, waiting ``backoff`` doubled per attempt or what
    ``Retry-After`` asks when that is at most ``max_retry_wait`` and fits
    before the deadline. ``sleep`` and ``now`` (epoch seconds, for HTTP-dates)
    are for tests; ``transport`` too (an ``httpx.MockTransport``).
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_workers: int = DEFAULT_MAX_WORKERS,
        max_retries: int = 1,
        backoff: float = 0.2,
        max_retry_wait: float = 2.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not timeout > 0 or max_workers < 1:
            raise ValueError("timeout and max_workers must be positive")
        self._timeout = float(timeout)
        self._retries = RetryPolicy(max_retries, backoff, max_retry_wait)
        self._sleep, self._now = sleep, now
        self._closed = False
        self._client = httpx.Client(
            timeout=httpx.Timeout(self._timeout),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_keepalive_connections=0),  # see above
            cookies=_NoCookies(),
            transport=transport,
        )
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="wikibot-auth-http"
        )

    def __repr__(self) -> str:
        return f"BoundedHttpClient(timeout={self._timeout!r})"

    def __enter__(self) -> BoundedHttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def timeout(self) -> float:
        """Seconds one request may take as a whole."""
        return self._timeout

    @property
    def is_closed(self) -> bool:
        return self._client.is_closed

    def close(self) -> None:
        """Cancel queued requests, let the workers go and close the client;
        a request made afterwards is an ``IdPError``, never sent."""
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def deadline(self, budget: float | None = None) -> float:
        """The ``time.monotonic()`` deadline of one operation (all its
        requests, retries and waits): ``budget`` seconds from now, by default
        twice the timeout and at most ``MAX_BUDGET``."""
        default = min(2.0 * self._timeout, MAX_BUDGET)
        return time.monotonic() + (default if budget is None else budget)

    def request(
        self,
        method: str,
        url: str,
        *,
        service: str,
        route: str,
        deadline: float | None = None,
        retry: bool = False,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> HttpAnswer:
        """Send ``method url`` with a JSON body (``json``) or a form (``data``),
        and return the answer whatever its status.

        ``service`` and ``route`` name the request in log lines ("WorkOS",
        "identities"): fixed words, never a value from a request or answer.
        ``deadline`` is a ``time.monotonic()`` time (default: one timeout from
        now). ``retry`` only for reads: a code is single-use. ``auth`` is a
        user name and password for HTTP Basic.

        Raises:
            IdPUnavailable: no answer in time, a connection failure, or no
                worker free before the deadline (then with ``retry_after``).
            IdPError: an unsafe URL, a body too large or undecodable, a closed
                client, or a request that could not be built.
        """
        if json is not None and data is not None:
            raise ValueError("a request has a JSON body or a form, not both")
        if deadline is None:
            deadline = time.monotonic() + self._timeout
        name = f"{service} {method} {route}"
        if not is_safe_url(url):
            logger.error("%s refused: the URL is not https", name)
            raise IdPError(f"{name} refused: the URL is not https")

        def send(until: float, trace: Trace) -> HttpAnswer:
            return self._send(method, url, until, trace, json, data, headers, auth)

        attempt = 0
        while True:
            failure: HttpAnswer | AuthError
            try:
                answer = self._attempt(send, name, deadline)
            except IdPUnavailable as exc:
                failure, wait = exc, self._retries.backoff(attempt)
            else:
                if not retry or answer.status not in RETRY_STATUSES:
                    return answer
                if (answer.retry_after or 0) > self._retries.max_wait:
                    return answer
                failure = answer
                wait = max(
                    float(answer.retry_after or 0), self._retries.backoff(attempt)
                )
            if (
                not retry
                or attempt >= self._retries.max_retries
                or time.monotonic() + wait >= deadline
            ):
                if isinstance(failure, HttpAnswer):
                    return failure
                raise failure
            what = failure.status if isinstance(failure, HttpAnswer) else failure.code
            logger.info("%s failed (%s); retrying", name, what)
            attempt += 1
            self._sleep(wait)

    def _attempt(
        self, send: Callable[[float, Trace], HttpAnswer], name: str, deadline: float
    ) -> HttpAnswer:
        # What the worker raised is classified here and never chained: every
        # raise below sits outside an ``except`` block.
        deadline = min(time.monotonic() + self._timeout, deadline)
        attempt = Attempt(send, deadline)
        outcome: HttpAnswer | Exception | None = None
        try:
            future = self._pool.submit(attempt.run)
        except RuntimeError:  # shut down, or no thread can be started
            attempt.abandon()
            outcome = RuntimeError("closed") if self._closed else None
        else:
            outcome = attempt.wait(future)
            del future
        if outcome is None:
            logger.warning("%s not sent: all workers busy, or no time left", name)
            raise IdPUnavailable(f"{name} was not sent in time", retry_after=1)
        if isinstance(outcome, HttpAnswer):
            return outcome
        error = _translate(outcome, name)
        del outcome
        raise error

    def _send(
        self,
        method: str,
        url: str,
        deadline: float,
        trace: Trace,
        json: Any,
        data: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        auth: tuple[str, str] | None,
    ) -> HttpAnswer:
        step = max(deadline - time.monotonic(), 0.001)
        request = self._client.build_request(
            method,
            url,
            json=json,
            data=data,
            headers=headers,
            timeout=step,
            extensions={"trace": trace},
        )
        response = self._client.send(
            request, auth=auth, stream=True, follow_redirects=False
        )
        try:
            declared = response.headers.get("content-length", "")
            if declared.isascii() and declared.isdigit():
                if int(declared) > MAX_BODY_BYTES:
                    raise _TooLarge
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise _TooLarge
                if time.monotonic() > deadline:
                    raise TooLate
                chunks.append(chunk)
        finally:
            response.close()
        status = response.status_code
        retry_after = None
        if status in RETRY_STATUSES:
            retry_after = parse_retry_after(
                response.headers.get("retry-after"), self._now()
            )
        return HttpAnswer(status, response.headers, b"".join(chunks), retry_after)


def _translate(exc: Exception, name: str) -> AuthError:
    if isinstance(exc, (TooLate, httpx.TimeoutException)):
        logger.warning("%s timed out", name)
        return IdPUnavailable(f"{name} did not answer in time")
    if isinstance(exc, (_TooLarge, httpx.DecodingError)):
        logger.warning("%s answered an unreadable body", name)
        return IdPError(f"{name} answered a body that could not be read")
    if isinstance(exc, httpx.TransportError):
        logger.warning("%s failed: %s", name, type(exc).__name__)
        return IdPUnavailable(f"{name} could not be reached")
    # InvalidURL, a closed client (RuntimeError), anything else: after a code
    # is spent it must still be a domain error.
    logger.error("%s could not be sent: %s", name, type(exc).__name__)
    return IdPError(f"{name} could not be sent")


def open_bounded_http_client(
    timeout: float = DEFAULT_TIMEOUT,
    *,
    max_workers: int = DEFAULT_MAX_WORKERS,
    transport: httpx.BaseTransport | None = None,
) -> Iterator[BoundedHttpClient]:
    """The shared client as a container ``Resource``: ``shutdown_resources()``
    cancels what is queued, lets the workers go and closes the connections."""
    with BoundedHttpClient(
        timeout=timeout, max_workers=max_workers, transport=transport
    ) as client:
        yield client
