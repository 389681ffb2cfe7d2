"""Helpers of the OIDC adapter tests against the stand-in: the adapter for it,
one login through it, and hand-forged tokens PyJWT refuses to make."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from typing import Any

import attrs

from tests.integration.oidc_standin import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT,
    OIDCStandIn,
    sign,
)
from tests.integration.workos_standin import s256
from wikibot_auth.adapters.bounded_http import BoundedHttpClient
from wikibot_auth.adapters.oidc import OIDCIdentityProvider, OIDCProviderConfig
from wikibot_auth.domain.model import IdentityProfile, LoginCallback
from wikibot_auth.domain.pkce import new_code_verifier

Mint = Callable[[OIDCStandIn, str], str]  # (stand-in, nonce) -> ID token


def acme(
    http: BoundedHttpClient, standin: OIDCStandIn, **options: Any
) -> OIDCIdentityProvider:
    """The adapter for the stand-in, as a provider named ``acme``."""
    options.setdefault("client_secret", CLIENT_SECRET)
    options.setdefault("redirect_uri", REDIRECT)
    interval = options.pop("jwks_refetch_interval", 60.0)
    config = OIDCProviderConfig(
        name=options.pop("name", "acme"),
        issuer=options.pop("issuer", standin.issuer),
        client_id=CLIENT_ID,
        **options,
    )
    return OIDCIdentityProvider(http, config, jwks_refetch_interval=interval)


def good_token(standin: OIDCStandIn, nonce: str) -> str:
    return sign(standin.claims(nonce))


@attrs.frozen
class Login:
    callback: LoginCallback
    secrets: tuple[str, ...]  # what must never be logged or raised


def start(
    standin: OIDCStandIn,
    mint: Mint = good_token,
    *,
    userinfo: dict[str, Any] | None = None,
    iss: str | None = None,
) -> Login:
    nonce, verifier = secrets.token_urlsafe(16), new_code_verifier()
    token = mint(standin, nonce)
    code = standin.issue_code(s256(verifier), token, userinfo=userinfo)
    callback = LoginCallback(code, verifier, REDIRECT, nonce=nonce, iss=iss)
    return Login(callback, (nonce, verifier, code, token, CLIENT_SECRET))


def exchange(
    idp: OIDCIdentityProvider, standin: OIDCStandIn, mint: Mint = good_token, **kw: Any
) -> IdentityProfile:
    return idp.exchange_code(start(standin, mint, **kw).callback)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forge(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A compact JWS signed with HMAC-SHA256 under ``key``, or unsigned."""
    signing_input = (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    )
    if key is None:
        return signing_input + "."
    mac = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"
