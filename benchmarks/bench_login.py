"""Our side of one login, through each kind of identity provider.

    .venv/bin/python -m benchmarks login

Each sample is ``ExchangeAuthCode.finish(callback)`` for a fresh code: the
adapter's requests over loopback HTTP (the shared ``BoundedHttpClient``, a new
connection per request as in production), identity resolution in the
in-memory store (an existing user, as for most logins), and a platform token
(RS256, key in the process). The code is made beforehand, untimed: WorkOS's
and GitHub's by their stand-ins, OpenID Connect's by panva's oidc-provider
(Node.js) through its login and consent pages. Every peer runs in a process of
its own (the stand-ins in a child process each), so this process's CPU time is
our side alone.

- wall: the whole exchange, the peer's own work included (oidc-provider signs
  an ID token and answers UserInfo; the stand-ins answer fixtures), so it is a
  floor of a real login, not a provider's latency.
- our CPU: ``time.process_time`` of this process over the exchange (the
  calling thread and the HTTP client's worker threads): building requests,
  plain HTTP on loopback, JSON, the ID token's signature check, the store, the
  platform token's RSA signature. What the login costs us, whatever the peer.

Rows: WorkOS (authenticate + identities); OIDC against oidc-provider taking
the ``claims`` parameter (token only: the profile comes in the ID token), with
an RS256 ID token (``client_secret_basic``) and an ES256 one
(``client_secret_post``); OIDC against oidc-provider as it comes (token +
UserInfo, RS256); GitHub (token + ``/user`` + ``/user/emails``); then an OIDC
adapter's first login (discovery and JWKS fetched, then kept).
"""

from __future__ import annotations

import multiprocessing
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.integration.github_standin import CLIENT_ID as GITHUB_CLIENT
from tests.integration.github_standin import CLIENT_SECRET as GITHUB_SECRET
from tests.integration.github_standin import REDIRECT as GITHUB_REDIRECT
from tests.integration.github_standin import GitHubStandIn
from tests.integration.oidc_peer import REDIRECT, OIDCPeer, run_oidc_provider
from tests.integration.workos_standin import API_KEY, CLIENT_ID, WorkOSStandIn, s256
from wikibot_auth.adapters.bounded_http import BoundedHttpClient
from wikibot_auth.adapters.github import GitHubIdentityProvider
from wikibot_auth.adapters.key_files import generate_private_key
from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.memory import InMemoryUserRepository
from wikibot_auth.adapters.oidc import OIDCIdentityProvider
from wikibot_auth.adapters.rs256 import RS256TokenSigner
from wikibot_auth.adapters.system_clock import SystemClock
from wikibot_auth.adapters.workos import WorkOSIdentityProvider
from wikibot_auth.domain.model import AuthorizationRequest, LoginCallback
from wikibot_auth.domain.pkce import code_challenge_s256, new_code_verifier
from wikibot_auth.domain.ports import IdentityProvider
from wikibot_auth.domain.use_cases import ExchangeAuthCode

SAMPLES = 120
WARM_UP = 5
COLD = 10

# One login's code, made untimed: () -> the callback to finish.
Prepare = Callable[[], LoginCallback]
STAND_INS: dict[str, Any] = {"workos": WorkOSStandIn, "github": GitHubStandIn}


def _serve_stand_in(kind: str, pipe: Connection) -> None:
    with STAND_INS[kind].running() as standin:
        pipe.send(standin.url)
        while (call := pipe.recv()) is not None:
            method, args, kwargs = call
            pipe.send(getattr(standin, method)(*args, **kwargs))


class StandInProcess:
    """A stand-in served by a child process (its CPU is not ours); its
    methods are called over a pipe: ``issue_code``, ``reset``."""

    def __init__(self, kind: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(
            target=_serve_stand_in, args=(kind, child), daemon=True
        )

    def __enter__(self) -> StandInProcess:
        self._process.start()
        self.url: str = self._pipe.recv()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._pipe.send(None)
        self._process.join(10)

    def issue_code(self, *args: Any, **kwargs: Any) -> str:
        return str(self._call("issue_code", *args, **kwargs))

    def reset(self) -> None:
        self._call("reset")

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self._pipe.send((method, args, kwargs))
        return self._pipe.recv()


def exchange_for(idp: IdentityProvider) -> ExchangeAuthCode:
    clock = SystemClock()
    signer = RS256TokenSigner(KeyRing.of_private_key(generate_private_key()), clock)
    return ExchangeAuthCode(idp, InMemoryUserRepository(), signer, clock)


def workos_login(standin: StandInProcess) -> Prepare:
    def prepare() -> LoginCallback:
        verifier = new_code_verifier()
        return LoginCallback(standin.issue_code(s256(verifier), "google"), verifier)

    return prepare


def github_login(standin: StandInProcess) -> Prepare:
    def prepare() -> LoginCallback:
        verifier = new_code_verifier()
        code = standin.issue_code(s256(verifier))
        return LoginCallback(code, verifier, GITHUB_REDIRECT)

    return prepare


def oidc_login(idp: OIDCIdentityProvider, peer: OIDCPeer) -> Prepare:
    def prepare() -> LoginCallback:
        verifier, nonce = new_code_verifier(), secrets.token_urlsafe(16)
        state = secrets.token_urlsafe(16)
        url = idp.authorization_url(
            AuthorizationRequest(
                state, code_challenge_s256(verifier), redirect_uri=REDIRECT, nonce=nonce
            )
        )
        answer = peer.authorize(url)
        return LoginCallback(
            answer["code"], verifier, REDIRECT, nonce=nonce, iss=answer.get("iss")
        )

    return prepare


def timed(exchange: ExchangeAuthCode, callback: LoginCallback) -> tuple[float, float]:
    """(wall ms, this process's CPU ms) of one finished login."""
    wall, cpu = time.perf_counter(), time.process_time()
    exchange.finish(callback)
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]


def run() -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_oidc_provider(Path(tmp)) as peer,
        run_oidc_provider(Path(tmp), claims_parameter=False) as plain,
        StandInProcess("workos") as workos,
        StandInProcess("github") as github,
        BoundedHttpClient(timeout=5.0) as http,
    ):
        rs256 = peer.google(http, "wikibot-basic")
        es256 = peer.google(http, "wikibot-post")
        userinfo = plain.google(http, "wikibot-basic")
        rows: dict[str, tuple[ExchangeAuthCode, Prepare]] = {
            "WorkOS (stand-in)": (
                exchange_for(
                    WorkOSIdentityProvider(
                        http, api_key=API_KEY, client_id=CLIENT_ID, base_url=workos.url
                    )
                ),
                workos_login(workos),
            ),
            "OIDC RS256, claims parameter": (
                exchange_for(rs256),
                oidc_login(rs256, peer),
            ),
            "OIDC ES256, claims parameter": (
                exchange_for(es256),
                oidc_login(es256, peer),
            ),
            "OIDC RS256 + UserInfo": (
                exchange_for(userinfo),
                oidc_login(userinfo, plain),
            ),
            "GitHub (stand-in)": (
                exchange_for(
                    GitHubIdentityProvider(
                        http,
                        client_id=GITHUB_CLIENT,
                        client_secret=GITHUB_SECRET,
                        base_url=github.url,
                        api_url=github.url,
                    )
                ),
                github_login(github),
            ),
        }
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in rows}
        for index in range(WARM_UP + SAMPLES):  # interleaved, round by round
            for name, (exchange, prepare) in rows.items():
                sample = timed(exchange, prepare())
                if index >= WARM_UP:
                    samples[name].append(sample)
            if index % 50 == 0:
                workos.reset()
                github.reset()
        cold = []
        for _ in range(COLD):
            fresh = peer.google(http, "wikibot-basic")
            prepare = oidc_login(rs256, peer)  # the code, from the warm adapter
            cold.append(timed(exchange_for(fresh), prepare())[0])
    width = max(len(name) for name in rows)
    print(f"\n## one login, our side  ({SAMPLES} interleaved logins each)")
    print(
        f"{'provider':<{width}}  {'wall median ms':>14}  {'wall p95 ms':>11}  "
        f"{'our CPU median ms':>17}  {'x WorkOS CPU':>12}"
    )
    floor = statistics.median(c for _, c in samples["WorkOS (stand-in)"])
    for name, values in samples.items():
        walls = [w for w, _ in values]
        cpu = statistics.median(c for _, c in values)
        print(
            f"{name:<{width}}  {statistics.median(walls):>14.2f}  "
            f"{p95(walls):>11.2f}  {cpu:>17.2f}  {cpu / floor:>12.2f}"
        )
    print(
        f"OIDC first login of a fresh adapter (discovery + JWKS, then the "
        f"exchange; {COLD} adapters): wall median {statistics.median(cold):.2f} ms"
    )


if __name__ == "__main__":
    run()
