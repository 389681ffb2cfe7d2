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

import copy
import json
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import attrs

from tests.integration.standin_http import StandIn, StandInHandler
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


class _Handler(StandInHandler):
    def _answer(self, method: str, route: str, body: str) -> None:
        standin = self.standin
        if route == "token":
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
            self._reset_connection()


class GitHubStandIn(StandIn, handler=_Handler, failure_modes=FAILURE_MODES):
    @staticmethod
    def route(method: str, raw_path: str) -> str:
        path = raw_path.split("?", 1)[0].removeprefix("/api/v3")
        routes = {
            ("POST", "/login/oauth/access_token"): "token",
            ("GET", "/user"): "user",
            ("GET", "/user/emails"): "emails",
        }
        return routes.get((method, path), "unknown")

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.codes: dict[str, Pending] = {}
            self.tokens: dict[str, Pending] = {}
            self.redirects = REDIRECTS  # the OAuth app's registered callbacks

    def environ(self) -> dict[str, str]:
        """The settings of a GitHub provider whose OAuth app and API are this
        stand-in."""
        return {
            "WIKIBOT_AUTH_GITHUB_CLIENT_ID": CLIENT_ID,
            "WIKIBOT_AUTH_GITHUB_CLIENT_SECRET": CLIENT_SECRET,
            "WIKIBOT_AUTH_GITHUB_URL": self.url,
            "WIKIBOT_AUTH_GITHUB_API_URL": self.url,
        }

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
