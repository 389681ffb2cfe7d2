"""panva's oidc-provider (npm ``oidc-provider``, pinned in package.json; OpenID
certified) as the real OpenID peer of the OIDC adapter: started from
``oidc_provider.mjs`` on 127.0.0.1 on a free port, stopped by its own pid.

Its clients (one per token endpoint auth method, and one per ID-token
algorithm) and accounts (``sub`` chosen here) are this module's; a login is
driven over HTTP through its development interaction pages (login, then
consent), as a browser would, up to the redirect to our callback. Under
``CI=true`` a missing Node.js or package is a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import attrs
import httpx

from tests.integration.peer_process import (
    ROOT,
    PeerMissing,
    free_port,
    installed,
    node,
    or_skip,
    running_process,
)
from wikibot_auth.adapters.bounded_http import BoundedHttpClient
from wikibot_auth.adapters.oidc import OIDCIdentityProvider, OIDCProviderConfig

SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
PACKAGE = ROOT / "node_modules" / "oidc-provider" / "package.json"
VERSION = "9.13.3"
REDIRECT = "https://wiki.example/auth/callback/peer"
# A lone provider keeps the bare callback (the IdP contract uses it).
BARE_REDIRECT = "https://wiki.example/auth/callback"
ALICE = "108872335"  # her Google subject, as WorkOS recorded it
BOB = "117301528846"  # his, as WorkOS names it (identities_google_other.json)
UNVERIFIED = "248289761001"
SECRETS = {
    "wikibot-basic": "basic-secret-3f9c1a7e5b2d4c6e8a0b1c2d",
    "wikibot-post": "post-secret-7a1b2c3d4e5f60718293a4b5",
    "wikibot-loopback": "loopback-secret-0c1d2e3f4a5b6c7d8e9f",
}
LOOPBACK_CLIENT = "wikibot-loopback"
# A native client's loopback redirect URIs match on any port (RFC 8252 §7.3):
# `wikibot-auth serve` on a free port, each provider's callback or the bare one.
LOOPBACK_REDIRECTS = [
    "http://127.0.0.1/auth/callback",
    "http://127.0.0.1/auth/callback/google",
    "http://127.0.0.1/auth/callback/acme",
]
ACCOUNTS: dict[str, dict[str, Any]] = {
    ALICE: {
        "email": "alice@example.com",
        "email_verified": True,
        "name": "Alice Liddell",
    },
    BOB: {
        "email": "bob@example.com",
        "email_verified": True,
        "name": "Bob Cratchit",
    },
    UNVERIFIED: {
        "email": "mallory@example.com",
        "email_verified": False,
        "given_name": "Mal",
        "family_name": "Lory",
    },
}


def _client(client_id: str, method: str, **extra: Any) -> dict[str, Any]:
    client = {
        "client_id": client_id,
        "redirect_uris": [REDIRECT, BARE_REDIRECT],
        "token_endpoint_auth_method": method,
        **extra,
    }
    if client_id in SECRETS:
        client["client_secret"] = SECRETS[client_id]
    return client


CLIENTS = [
    _client("wikibot-basic", "client_secret_basic"),
    _client("wikibot-post", "client_secret_post", id_token_signed_response_alg="ES256"),
    _client("wikibot-public", "none", id_token_signed_response_alg="EdDSA"),
    _client("wikibot-ps256", "none", id_token_signed_response_alg="PS256"),
    _client(
        LOOPBACK_CLIENT,
        "client_secret_basic",
        application_type="native",
        redirect_uris=LOOPBACK_REDIRECTS,
    ),
]


@attrs.frozen
class OIDCPeer:
    """A running oidc-provider: its issuer, and a login driver."""

    issuer: str

    def authorize(self, url: str, account: str = ALICE) -> dict[str, str]:
        """Follow ``url`` (our adapter's authorization URL) through the login
        page (as ``account``) and the consent page; return the query of the
        redirect to our callback: ``code``, ``state``, ``iss``."""
        target = self.callback_url(url, (REDIRECT, BARE_REDIRECT), account)
        query = parse_qs(urlsplit(target).query)
        return {key: values[0] for key, values in query.items()}

    def environ(self, name: str, client_id: str = LOOPBACK_CLIENT) -> dict[str, str]:
        """The variables that configure OIDC provider ``name`` at this peer
        (as an operator points ``google`` at accounts.google.com); the
        default client takes ``serve``'s loopback callbacks on any port."""
        prefix = f"WIKIBOT_AUTH_OIDC_{name.upper().replace('-', '_')}_"
        values = {prefix + "ISSUER": self.issuer, prefix + "CLIENT_ID": client_id}
        if client_id in SECRETS:
            values[prefix + "CLIENT_SECRET"] = SECRETS[client_id]
        return values

    def google(
        self, http: BoundedHttpClient, client_id: str = "wikibot-basic", **options: Any
    ) -> OIDCIdentityProvider:
        """The provider named ``google`` pointed at this peer (no Google quirks)."""
        config = OIDCProviderConfig(
            name="google",
            issuer=self.issuer,
            client_id=client_id,
            client_secret=SECRETS.get(client_id),
            redirect_uri=REDIRECT,
            **options,
        )
        return OIDCIdentityProvider(http, config)

    def requests(self) -> dict[str, int]:
        """How many requests each path of the peer has answered so far."""
        with httpx.Client(timeout=5.0) as client:
            counts: dict[str, int] = client.get(self.issuer + "/test/requests").json()
        return counts

    def callback_url(
        self, url: str, callbacks: tuple[str, ...], account: str = ALICE
    ) -> str:
        """Follow ``url`` through the login and consent pages, as ``account``,
        up to the redirect to one of ``callbacks``; return that whole URL."""
        if not url.startswith(self.issuer + "/"):
            raise AssertionError(f"not this peer's authorize URL: {url}")
        with httpx.Client(timeout=5.0) as browser:
            answer = browser.get(url)
            for _ in range(12):
                if answer.is_redirect:
                    target = urljoin(str(answer.url), answer.headers["location"])
                    if target.startswith(tuple(c + "?" for c in callbacks)):
                        return target
                    answer = browser.get(target)
                    continue
                answer = browser.post(
                    urljoin(str(answer.url), _form_action(answer.text)),
                    data=_form_fields(answer.text, account),
                )
        raise AssertionError("the interaction did not end at our callback")


def _form_action(page: str) -> str:
    match = re.search(r'<form[^>]* action="([^"]+)"', page)
    if match is None:
        raise AssertionError(f"no form on the interaction page: {page[:300]}")
    return match.group(1)


def _form_fields(page: str, account: str) -> dict[str, str]:
    match = re.search(r'name="prompt" value="([a-z]+)"', page)
    if match is None:
        raise AssertionError("the interaction page names no prompt")
    prompt = match.group(1)
    if prompt == "login":  # the development page takes any login and password
        return {"prompt": prompt, "login": account, "password": "anything"}
    return {"prompt": prompt}


def _answers(issuer: str) -> bool:
    url = issuer + "/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=0.5) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def run_oidc_provider(
    tmp: Path, package: Path = PACKAGE, *, claims_parameter: bool = True
) -> Iterator[OIDCPeer]:
    """Start oidc-provider with ``CLIENTS`` and ``ACCOUNTS``; stop it on exit.

    With ``claims_parameter`` it takes OpenID Connect's ``claims`` request
    parameter (Core §5.5) and says so in discovery, so the profile comes in
    the ID token; without, it keeps it for UserInfo (its default: the ID token
    of a code flow holds no profile claims).

    Raises:
        PeerMissing: Node.js or the pinned package is not there (``npm ci``).
    """
    node_path = node("oidc-provider")
    found = json.loads(installed(package, "npm ci").read_text(encoding="utf-8"))
    if found.get("version") != VERSION:
        raise PeerMissing(
            f"oidc-provider {found.get('version')} installed, {VERSION} pinned"
        )
    port = free_port()
    setup = tmp / f"oidc-provider-setup-{port}.json"
    setup.write_text(
        json.dumps(
            {
                "clients": CLIENTS,
                "accounts": ACCOUNTS,
                "claimsParameter": claims_parameter,
            }
        )
    )
    issuer = f"http://127.0.0.1:{port}"
    argv = [node_path, str(SCRIPT), str(port), str(setup)]
    with running_process(
        "oidc-provider",
        argv,
        lambda: _answers(issuer),
        timeout=20.0,
        cwd=ROOT,
        stderr_tail=800,
    ):
        yield OIDCPeer(issuer)


@contextlib.contextmanager
def oidc_provider_or_skip(
    tmp: Path, package: Path = PACKAGE, *, claims_parameter: bool = True
) -> Iterator[OIDCPeer]:
    """``run_oidc_provider`` for a fixture: skip when it is missing, except
    under ``CI=true`` where that fails the run."""
    peer = run_oidc_provider(tmp, package, claims_parameter=claims_parameter)
    with or_skip(peer, "oidc-provider") as peer:
        yield peer
