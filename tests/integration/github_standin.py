"""A GitHub stand-in over real HTTP (http.server in a thread): the OAuth web
flow's token endpoint and the two REST calls a login makes.

It serves the JSON fixtures in ``github_fixtures/`` (each names the GitHub
reference page it follows): ``POST /login/oauth/access_token`` checks the
client, the redirect URI, the PKCE verifier and single use, and answers its
errors as HTTP 200 with an ``error`` field (form-encoded unless asked for
JSON, as GitHub does); ``GET /user`` and ``GET /user/emails`` check the Bearer
token, under ``/`` (github.com's API host) or ``/api/v3`` (GitHub Enterprise
Server). Every request is recorded; a route can be told to fail.
"""

from __future__ import annotations

import contextlib
import copy
import json
import secrets
import socket
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import attrs

from tests.integration.workos_standin import s256

FIXTURES = Path(__file__).parent / "github_fixtures"
CLIENT_ID = "Iv1.8a61f9b3a7aba766"
CLIENT_SECRET = "1234567890abcdef1234567890abcdef12345678"
REDIRECT = "https://wiki.example/auth/callback/github"
# The OAuth app's registered callbacks; a lone provider keeps the bare one.
REDIRECTS = (REDIRECT, "https://wiki.example/auth/callback")
FAILURE_MODES = ("500", "rate_limited", "secondary", "reset", "malformed")


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


@attrs.define
class Pending:
    challenge: str
    user: dict[str, Any]
    emails: list[dict[str, Any]]
    refusal: str | None = None


class GitHubStandIn:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.standin = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.reset()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[GitHubStandIn]:
        standin = cls()
        standin._thread.start()
        try:
            yield standin
        finally:
            standin._server.shutdown()
            standin._server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.codes: dict[str, Pending] = {}
            self.tokens: dict[str, Pending] = {}
            self.failures: dict[str, list[str]] = {}
            self.requests: list[tuple[str, str, dict[str, str], str]] = []
            self.redirects = REDIRECTS  # the OAuth app's registered callbacks

    def issue_code(
        self,
        code_challenge: str,
        emails: list[dict[str, Any]] | None = None,
        refusal: str | None = None,
        **user: Any,
    ) -> str:
        """A single-use code bound to the challenge, for the fixture's user
        with ``user`` changes and ``emails`` (default: the fixture's); its
        exchange answers the error fixture ``refusal`` instead, if given."""
        code = secrets.token_hex(10)
        body = {**fixture("user")["body"], **user}
        listed = fixture("emails")["body"] if emails is None else emails
        with self.lock:
            self.codes[code] = Pending(
                code_challenge, body, copy.deepcopy(listed), refusal
            )
        return code

    def fail(self, route: str, mode: str, times: int = 1) -> None:
        if mode not in FAILURE_MODES:
            raise ValueError(mode)
        with self.lock:
            self.failures.setdefault(route, []).extend([mode] * times)

    def calls(self, route: str) -> list[tuple[str, str, dict[str, str], str]]:
        with self.lock:
            return [r for r in self.requests if _route(r[0], r[1]) == route]

    def take_failure(self, route: str) -> str | None:
        with self.lock:
            queue = self.failures.get(route)
            return queue.pop(0) if queue else None


def _route(method: str, raw_path: str) -> str:
    path = raw_path.split("?", 1)[0].removeprefix("/api/v3")
    routes = {
        ("POST", "/login/oauth/access_token"): "token",
        ("GET", "/user"): "user",
        ("GET", "/user/emails"): "emails",
    }
    return routes.get((method, path), "unknown")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def standin(self) -> GitHubStandIn:
        return self.server.standin  # type: ignore[attr-defined,no-any-return]

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("latin-1") if length else ""
        standin = self.standin
        with standin.lock:
            standin.requests.append(
                (method, self.path, dict(self.headers.items()), body)
            )
        route = _route(method, self.path)
        mode = standin.take_failure(route)
        if mode is not None:
            self._fail(mode)
        elif route == "token":
            self._token({k: v[0] for k, v in parse_qs(body).items()})
        elif route in ("user", "emails"):
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            with standin.lock:
                pending = standin.tokens.get(token)
            if pending is None:
                self._serve(fixture("error_requires_authentication"))
            elif route == "user":
                self._serve({**fixture("user"), "body": pending.user})
            else:
                self._serve({**fixture("emails"), "body": pending.emails})
        else:
            self._serve(fixture("error_not_found"))

    def _token(self, form: dict[str, str]) -> None:
        if (form.get("client_id"), form.get("client_secret")) != (
            CLIENT_ID,
            CLIENT_SECRET,
        ):
            self._exchange_answer(fixture("error_incorrect_client_credentials"))
            return
        if form.get("redirect_uri", REDIRECT) not in self.standin.redirects:
            self._exchange_answer(fixture("error_redirect_uri_mismatch"))
            return
        with self.standin.lock:
            pending = self.standin.codes.pop(form.get("code", ""), None)
        if pending is None or s256(form.get("code_verifier", "")) != pending.challenge:
            self._exchange_answer(fixture("error_bad_verification_code"))
            return
        if pending.refusal is not None:
            self._exchange_answer(fixture(pending.refusal))
            return
        answer = fixture("token")
        token = "gho_" + secrets.token_hex(18)
        answer["body"]["access_token"] = token
        with self.standin.lock:
            self.standin.tokens[token] = pending
        self._exchange_answer(answer)

    def _exchange_answer(self, answer: dict[str, Any]) -> None:
        if "application/json" in self.headers.get("Accept", ""):
            self._serve(answer)
        else:  # GitHub's default: a form-encoded body
            payload = urlencode(answer["body"]).encode()
            self._send(200, payload, "application/x-www-form-urlencoded")

    def _fail(self, mode: str) -> None:
        if mode == "500":
            self._json(500, {"message": "Server Error"})
        elif mode == "rate_limited":
            answer = fixture("error_rate_limited")
            reset = str(int(time.time()) + 42)
            answer["headers"]["x-ratelimit-reset"] = reset
            self._serve(answer)
        elif mode == "secondary":
            message = {"message": "You have exceeded a secondary rate limit."}
            self._json(403, message, {"retry-after": "60"})
        elif mode == "malformed":
            self._send(200, b"<html>unicorn</html>", "text/html")
        elif mode == "reset":
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            self.connection.close()
            self.close_connection = True

    def _serve(self, answer: dict[str, Any]) -> None:
        self._json(answer["status"], answer["body"], answer.get("headers", {}))

    def _json(
        self, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers)

    def _send(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)
