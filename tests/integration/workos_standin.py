"""A WorkOS User Management stand-in over real HTTP (http.server in a thread).

It serves the JSON fixtures in ``workos_fixtures/`` (copied from WorkOS's API
reference), checks the client secret (400 ``invalid_client`` as WorkOS answers),
the Bearer API key and the PKCE verifier against the challenge, makes codes
single-use, records every request, and can be told to fail on a route: 500, slow
past the client timeout, malformed JSON, an HTML error page, a connection reset,
429, 401, 403, or an answer whose headers or body trickle in a byte at a time.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import attrs

from tests.integration.standin_http import StandIn, StandInHandler
from wikibot_auth.domain.pkce import new_code_verifier

FIXTURES = Path(__file__).parent / "workos_fixtures"
API_KEY = "sk_test_standin_0123456789abcdef"
CLIENT_ID = "client_01STANDIN0000000000000000"
FAILURE_MODES = (
    "500",
    "slow",
    "malformed",
    "html",
    "reset",
    "429",
    "401",
    "403",
    "drip_headers",
    "drip_body",
)
DRIP_SECONDS = 0.2  # between bytes: each read is well within any timeout

# scenario -> (authenticate fixture, identities fixture)
SCENARIOS = {
    "google": ("authenticate_google", "identities_google"),
    "github": ("authenticate_github_no_method", "identities_github"),
    "password": ("authenticate_password", "identities_empty"),
    "linked": ("authenticate_linked", "identities_several"),
    "email_verification": ("error_email_verification_required", None),
}


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@attrs.define
class Pending:
    challenge: str
    scenario: str
    user: dict[str, Any]


def start(standin: WorkOSStandIn, scenario: str = "google") -> tuple[str, str]:
    """A fresh (code, verifier) pair for ``scenario``."""
    verifier = new_code_verifier()
    return standin.issue_code(s256(verifier), scenario), verifier


class _Handler(StandInHandler):
    def parse_body(self, raw: bytes) -> Any:
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("latin-1")

    def _answer(self, method: str, route: str, body: Any) -> None:
        if route == "authenticate":
            self._authenticate(body)
        elif route in ("identities", "user"):
            if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                self._serve(fixture("error_unauthorized"))
                return
            rest = self.path.split("?", 1)[0][len("/user_management/users/") :]
            user_id = unquote(rest.split("/", 1)[0])
            if route == "identities":
                self._identities(user_id)
            else:
                self._user(user_id)
        else:
            self._serve(fixture("error_not_found"))

    def _authenticate(self, body: Any) -> None:
        if not isinstance(body, dict):
            self._json(400, {"error": "invalid_request", "error_description": "x"})
            return
        if body.get("client_id") != CLIENT_ID or body.get("client_secret") != API_KEY:
            self._serve(fixture("error_invalid_client"))
            return
        if body.get("grant_type") != "authorization_code":
            self._json(400, {"error": "unsupported_grant_type"})
            return
        code = body.get("code")
        with self.standin.lock:
            pending = self.standin.codes.pop(code, None) if code else None
        verifier = body.get("code_verifier")
        if (
            pending is None
            or not isinstance(verifier, str)
            or s256(verifier) != pending.challenge
        ):
            grant = fixture("error_invalid_grant")
            description = grant["body"]["error_description"]
            grant["body"]["error_description"] = description.replace(
                "{code}", str(code)
            )
            self._serve(grant)
            return
        name, identities = SCENARIOS[pending.scenario]
        answer = fixture(name)
        if answer["status"] == 200:
            user = answer["body"]["user"]
            user.update(pending.user)
            with self.standin.lock:
                self.standin.users[user["id"]] = copy.deepcopy(user)
                if identities is not None:
                    self.standin.identities.setdefault(user["id"], identities)
        self._serve(answer)

    def _identities(self, user_id: str) -> None:
        with self.standin.lock:
            name = self.standin.identities.get(user_id)
        self._serve(fixture(name) if name else fixture("error_not_found"))

    def _user(self, user_id: str) -> None:
        with self.standin.lock:
            user = self.standin.users.get(user_id)
        if user is None:
            self._serve(fixture("error_not_found"))
            return
        answer = fixture("user_google")
        answer["body"] = {**answer["body"], **user}
        self._serve(answer)

    def _fail(self, mode: str) -> None:
        if mode == "500":
            self._json(500, {"code": "internal_server_error", "message": "boom"})
        elif mode == "429":
            self._serve(fixture("error_rate_limited"))
        elif mode == "401":
            self._serve(fixture("error_unauthorized"))
        elif mode == "403":
            self._json(403, {"code": "forbidden", "message": "Missing permission"})
        elif mode.startswith("drip"):
            self._drip(headers=mode == "drip_headers")
        elif mode == "malformed":
            self._send(200, b'{"user": {"id": "user_', "application/json")
        elif mode == "html":
            page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            self._send(502, page, "text/html")
        elif mode == "slow":
            self._too_late({"code": "too_late"})
        elif mode == "reset":
            self._reset_connection()

    def _drip(self, *, headers: bool) -> None:
        body = json.dumps(fixture("authenticate_google")["body"]).encode()
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
        if not headers:
            self.wfile.write(head)
        deadline = time.monotonic() + self.standin.slow_seconds * 2
        with contextlib.suppress(OSError):
            for byte in (head if headers else b"") + body:
                if time.monotonic() > deadline:
                    break
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(DRIP_SECONDS)
        self.close_connection = True


class WorkOSStandIn(StandIn, handler=_Handler, failure_modes=FAILURE_MODES):
    @staticmethod
    def route(method: str, raw_path: str) -> str:
        path = raw_path.split("?", 1)[0]
        if method == "POST" and path == "/user_management/authenticate":
            return "authenticate"
        if method == "GET" and path.startswith("/user_management/users/"):
            rest = path[len("/user_management/users/") :]
            if rest.endswith("/identities") and "/" not in rest[: -len("/identities")]:
                return "identities"
            if "/" not in rest:
                return "user"
        return "unknown"

    def environ(self) -> dict[str, str]:
        """The settings of a WorkOS provider whose API is this stand-in."""
        return {
            "WORKOS_API_KEY": API_KEY,
            "WORKOS_CLIENT_ID": CLIENT_ID,
            "WORKOS_BASE_URL": self.url,
        }

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.slow_seconds = 2.0
            self.codes: dict[str, Pending] = {}
            self.identities: dict[str, str] = {}
            self.users: dict[str, dict[str, Any]] = {}

    def issue_code(
        self, code_challenge: str, scenario: str = "google", **user: Any
    ) -> str:
        """A single-use code, as WorkOS's callback would carry, bound to the
        challenge; ``user`` overrides fields of the fixture's user."""
        if scenario not in SCENARIOS:
            raise ValueError(scenario)
        code = "01" + secrets.token_hex(12).upper()
        with self.lock:
            self.codes[code] = Pending(code_challenge, scenario, user)
        return code
