"""An OpenID provider stand-in over real HTTP (http.server in a thread), for the
hostile cases a certified provider never produces.

It serves a discovery document (at any path ending in the well-known one), a
JWKS, a token endpoint and UserInfo; each test says what they hold. The ID
token a code yields is minted by the test, with any header, claims and key
(``mint``), or from defaults. The token endpoint checks the client
authentication it is told to expect, the PKCE verifier and single use; every
request is recorded, and a route can be told to fail (500, 429, a reset, an
answer past the client's timeout, a body that is not JSON).
"""

from __future__ import annotations

import base64
import copy
import functools
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import attrs
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from tests.integration.standin_http import StandIn, StandInHandler
from tests.integration.workos_standin import s256

CLIENT_ID = "standin-client"
CLIENT_SECRET = "standin-secret-5e6f7a8b9c0d1e2f"
REDIRECT = "https://wiki.example/auth/callback/acme"
SUBJECT = "248289761001"
WELL_KNOWN = "/.well-known/openid-configuration"
FAILURE_MODES = ("500", "429", "reset", "slow", "malformed")


@functools.cache
def private_key(kid: str) -> Any:
    """One private key per kid for the session: ``rsa-*``, ``ec-*``, ``ed-*``."""
    if kid.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kid.startswith("ec"):
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def public_jwk(kid: str, **extra: Any) -> dict[str, Any]:
    public = private_key(kid).public_key()
    if kid.startswith("rsa"):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif kid.startswith("ec"):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", **extra}


def sign(
    claims: dict[str, Any],
    key: str = "rsa-1",
    alg: str = "RS256",
    kid: str | None = None,
) -> str:
    """An ID token signed (PyJWT) by the stand-in's key ``key``, its header
    naming ``kid`` (default: that key's)."""
    return jwt.encode(
        claims, private_key(key), algorithm=alg, headers={"kid": kid or key}
    )


@attrs.define
class Pending:
    challenge: str
    id_token: str
    access_token: str
    userinfo: dict[str, Any] | None


class _Handler(StandInHandler):
    def _answer(self, method: str, route: str, body: str) -> None:
        standin = self.standin
        if route == "discovery" and method == "GET":
            with standin.lock:
                self._json(200, standin.discovery)
        elif route == "jwks" and method == "GET":
            with standin.lock:
                self._json(200, {"keys": standin.jwks})
        elif route == "token" and method == "POST":
            self._token({k: v[0] for k, v in parse_qs(body).items()})
        elif route == "userinfo" and method == "GET":
            self._userinfo()
        else:
            self._json(404, {"error": "not_found"})

    def _client_ok(self, form: dict[str, str]) -> bool:
        method = self.standin.auth_method
        header = self.headers.get("Authorization", "")
        if method == "client_secret_basic":
            if not header.startswith("Basic ") or "client_secret" in form:
                return False
            pair = base64.b64decode(header[6:]).decode()
            user, _, password = pair.partition(":")
            return (unquote_plus(user), unquote_plus(password)) == (
                CLIENT_ID,
                CLIENT_SECRET,
            )
        if header:
            return False
        secret = form.get("client_secret") if method == "client_secret_post" else None
        return form.get("client_id") == CLIENT_ID and secret == (
            CLIENT_SECRET if method == "client_secret_post" else None
        )

    def _token(self, form: dict[str, str]) -> None:
        if not self._client_ok(form):
            self._json(401, {"error": "invalid_client", "error_description": "no"})
            return
        with self.standin.lock:
            pending = self.standin.codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        if pending is None or s256(verifier) != pending.challenge:
            description = f"grant request is invalid: {form.get('code')}"
            self._json(
                400, {"error": "invalid_grant", "error_description": description}
            )
            return
        if (
            form.get("grant_type") != "authorization_code"
            or form.get("redirect_uri") != self.standin.redirect
        ):
            self._json(400, {"error": "invalid_request"})
            return
        with self.standin.lock:
            self.standin.codes["spent:" + pending.access_token] = pending
        self._json(
            200,
            {
                "access_token": pending.access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": pending.id_token,
            },
        )

    def _userinfo(self) -> None:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.standin.lock:
            pending = self.standin.codes.get("spent:" + token)
        if pending is None:
            self._json(401, {"error": "invalid_token"})
        elif pending.userinfo is None:
            self._json(404, {"error": "not_found"})
        else:
            self._json(200, pending.userinfo)

    def _fail(self, mode: str) -> None:
        if mode == "500":
            self._json(500, {"error": "server_error"})
        elif mode == "429":
            self._json(429, {"error": "slow_down"}, {"Retry-After": "7"})
        elif mode == "malformed":
            self._send(200, b"<html>not json</html>", "text/html")
        elif mode == "slow":
            self._too_late({"error": "too_late"})
        elif mode == "reset":
            self._reset_connection()


class OIDCStandIn(StandIn, handler=_Handler, failure_modes=FAILURE_MODES):
    @staticmethod
    def route(method: str, raw_path: str) -> str:
        path = raw_path.split("?", 1)[0]
        if path.endswith(WELL_KNOWN):
            return "discovery"
        return path.rsplit("/", 1)[-1]

    def reset(self, issuer: str | None = None) -> None:
        """Defaults: issuer = the server's URL, RS256 and friends, one RSA key,
        ``client_secret_basic`` expected, no ``iss`` in callbacks."""
        url = self.url
        super().reset()
        with self.lock:
            self.issuer = issuer or url
            self.discovery: dict[str, Any] = {
                "issuer": self.issuer,
                "authorization_endpoint": f"{url}/authorize",
                "token_endpoint": f"{url}/token",
                "jwks_uri": f"{url}/jwks",
                "userinfo_endpoint": f"{url}/userinfo",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [
                    "RS256",
                    "PS256",
                    "ES256",
                    "EdDSA",
                ],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
                "code_challenge_methods_supported": ["S256"],
            }
            self.jwks: list[dict[str, Any]] = [public_jwk("rsa-1")]
            self.auth_method = "client_secret_basic"
            self.redirect = REDIRECT  # the redirect URI the token endpoint expects
            self.codes: dict[str, Pending] = {}
            self.slow_seconds = 2.0

    def claims(self, nonce: str, /, **changes: Any) -> dict[str, Any]:
        """Good ID-token claims for ``nonce``; a change to None removes one."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": SUBJECT,
            "aud": CLIENT_ID,
            "exp": now + 600,
            "iat": now,
            "nonce": nonce,
            "email": "ada@example.com",
            "email_verified": True,
            "name": "Ada Lovelace",
            **changes,
        }
        return {k: v for k, v in claims.items() if v is not None}

    def issue_code(
        self,
        challenge: str,
        id_token: str,
        *,
        userinfo: dict[str, Any] | None = None,
    ) -> str:
        """A single-use code bound to ``challenge`` whose exchange answers
        ``id_token``; UserInfo then answers ``userinfo`` (404 when None)."""
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = Pending(
                challenge, id_token, secrets.token_urlsafe(24), copy.deepcopy(userinfo)
            )
        return code
