"""``wikibot-auth serve`` as a real process against real peers: Alice, who
signed up through WorkOS with Google, is the same platform user when the
operator switches to Google directly (panva's oidc-provider playing Google);
Bob, whose identities lookup failed at his first login, is found by the
migration report, fixed by the backfill (the CLI as processes on the same
store) and then found by Google too, while Carol, with no OAuth identity,
stays stranded; and several providers at once, whose mix-up defence is
counted at the peer."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.integration.github_standin import REDIRECTS as GITHUB_REDIRECTS
from tests.integration.github_standin import GitHubStandIn
from tests.integration.oidc_peer import ALICE, BOB, OIDCPeer
from tests.integration.server import clean_environ, run_cli, running_server
from tests.integration.web import query_of
from tests.integration.workos_standin import API_KEY, WorkOSStandIn
from wikibot_auth.entrypoints.cli import main

JSON = {"accept": "application/json"}
HTML = {"accept": "text/html"}
WORKOS_USER = "user_01E4ZCR3C56J083X43JQXF3JK5"  # the stand-in's Google user
BOB_WORKOS = "user_01J1BOBGOOGLE0000000000000"
CAROL_WORKOS = "user_01J0PASSWORDONLYUSER00000"  # authenticate_password.json


def data_environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The embedded defaults of ``serve`` (SQLite in the data directory)."""
    return clean_environ(WIKIBOT_AUTH_DATA_DIR=str(tmp_path / "data"), **extra)


@pytest.fixture
def serve(tmp_path: Path) -> Callable[[dict[str, str]], Any]:
    """``serve(environ)``: a context manager running ``wikibot-auth serve``."""
    runs = iter(range(100))

    def start(environ: dict[str, str]) -> Any:
        run = tmp_path / f"run-{next(runs)}"
        run.mkdir()
        return running_server(run, environ)

    return start


def via_workos(
    base: str, standin: WorkOSStandIn, scenario: str = "google", **user: str
) -> httpx.Response:
    """A login at the WorkOS stand-in (``scenario`` names its fixtures, ``user``
    overrides fields of its user) up to our callback; its answer (JSON)."""
    with httpx.Client(base_url=base, timeout=10) as client:
        started = client.get("/auth/login", headers=JSON)
        assert started.status_code == 302, started.text
        query = query_of(started.headers["location"])
        code = standin.issue_code(query["code_challenge"], scenario, **user)
        answer = {"code": code, "state": query["state"]}
        return client.get(f"{query['redirect_uri']}?{urlencode(answer)}", headers=JSON)


def via_peer(
    base: str, peer: OIDCPeer, provider: str | None = None, account: str = ALICE
) -> httpx.Response:
    """A login at the peer through its login and consent pages, up to our
    callback; its answer (JSON)."""
    params = {} if provider is None else {"provider": provider}
    with httpx.Client(base_url=base, timeout=10) as client:
        started = client.get("/auth/login", params=params, headers=JSON)
        assert started.status_code == 302, started.text
        callbacks = (f"{base}/auth/callback", f"{base}/auth/callback/{provider}")
        callback = peer.callback_url(started.headers["location"], callbacks, account)
        return client.get(callback, headers=JSON)


def stored(tmp_path: Path, user_id: str) -> dict[str, Any]:
    with sqlite3.connect(tmp_path / "data" / "users.db") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM users WHERE user_id = ?", (user_id,))
        return dict(row.fetchone())


def identities(tmp_path: Path, user_id: str) -> set[tuple[str, str]]:
    with sqlite3.connect(tmp_path / "data" / "users.db") as db:
        rows = db.execute(
            "SELECT provider, subject FROM identities WHERE user_id = ?", (user_id,)
        )
        return {(p, s) for p, s in rows}


def test_alice_leaves_workos_for_google_and_stays_the_same_user(
    tmp_path, serve, standin: WorkOSStandIn, oidc_peer: OIDCPeer, monkeypatch
):
    # 1. Alice signs up through WorkOS, with Google (identities: GoogleOAuth /
    #    108872335, the stand-in's fixture).
    workos = data_environ(
        tmp_path,
        **standin.environ(),
    )
    with serve(workos) as (base, _):
        first = via_workos(
            base,
            standin,
            email="alice@old.example",
            first_name="Alice",
            last_name="Pleasance",
        )
    assert first.status_code == 200, first.text
    user_id = first.json()["user"]["user_id"]
    assert identities(tmp_path, user_id) == {
        ("google", ALICE),
        ("workos", WORKOS_USER),
    }
    # The operator gave her the paid tier meanwhile.
    with sqlite3.connect(tmp_path / "data" / "users.db") as db:
        db.execute("UPDATE users SET tier = 'pro' WHERE user_id = ?", (user_id,))

    # 2. The operator switches to Google directly: no WorkOS variable left.
    google = data_environ(
        tmp_path, WIKIBOT_AUTH_IDP="google", **oidc_peer.environ("google")
    )
    with serve(google) as (base, output):
        again = via_peer(base, oidc_peer)
        assert again.status_code == 200, again.text
        body = again.json()
        me = httpx.get(
            f"{base}/me", headers={"authorization": f"Bearer {body['token']}"}
        )
        # 3. Disabled by the operator, she is refused at the next login.
        monkeypatch.setenv("WIKIBOT_AUTH_DATA_DIR", str(tmp_path / "data"))
        assert main(["users", "disable", user_id]) == 0
        refused = via_peer(base, oidc_peer)
        log = output.read_text(errors="replace")
    assert body["user"] == {
        "user_id": user_id,  # the same platform user
        "email": "alice@example.com",  # her profile synced from Google
        "display_name": "Alice Liddell",
        "tier": "pro",
    }
    assert me.json() == body["user"]
    assert (refused.status_code, refused.json()["error"]) == (403, "user_disabled")
    record = stored(tmp_path, user_id)
    assert (record["tier"], record["disabled"]) == ("pro", 1)
    assert (record["oauth_provider"], record["oauth_provider_sub"]) == (
        "google",
        ALICE,
    )
    assert record["workos_user_id"] == WORKOS_USER  # kept for the record
    assert identities(tmp_path, user_id) == {
        ("google", ALICE),
        ("workos", WORKOS_USER),
    }
    with sqlite3.connect(tmp_path / "data" / "users.db") as db:
        assert db.execute("SELECT COUNT(*) FROM users").fetchone() == (1,)
    (succeeded,) = [
        line for line in log.splitlines() if line.startswith("INFO login.succeeded")
    ][-1:]
    for field in ("provider='google'", "user_created=False", f"user_id='{user_id}'"):
        assert field in succeeded
    assert body["token"] not in log


def migration_report(environ: dict[str, str]) -> dict[str, Any]:
    """``wikibot-auth users migration-report --json --list``, as a process."""
    done = run_cli(environ, "users", "migration-report", "--json", "--list")
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def stranded(report: dict[str, Any]) -> dict[str, tuple[list[str], str | None]]:
    """The stranded users listed: user_id -> (providers, WorkOS user id)."""
    return {
        u["user_id"]: (u["providers"], u["workos_user_id"])
        for u in report["stranded_users"]
    }


def test_bob_is_backfilled_then_found_by_google_and_carol_stays_stranded(
    tmp_path, serve, standin: WorkOSStandIn, oidc_peer: OIDCPeer
):
    workos = data_environ(
        tmp_path,
        **standin.environ(),
    )
    # What WorkOS knows of Bob: his Google account, another than Alice's.
    standin.identities[BOB_WORKOS] = "identities_google_other"
    with serve(workos) as (base, _):
        # 1. Three people sign up through WorkOS: Alice with Google; Bob with
        #    Google while WorkOS's identities API fails (the adapter's retry
        #    too), so he is stored with the workos alias only; Carol with a
        #    password, for which WorkOS lists no identity at all.
        alice = via_workos(base, standin)
        standin.fail("identities", "500", times=2)
        bob = via_workos(
            base,
            standin,
            id=BOB_WORKOS,
            email="bob@old.example",
            first_name="Robert",
            last_name="Cratchit",
        )
        assert standin.failures["identities"] == []  # both were used
        carol = via_workos(
            base, standin, "password", email="carol@example.com", first_name="Carol"
        )
        assert alice.status_code == bob.status_code == carol.status_code == 200
        alice_id, bob_id, carol_id = (
            r.json()["user"]["user_id"] for r in (alice, bob, carol)
        )
        assert identities(tmp_path, bob_id) == {("workos", BOB_WORKOS)}
        assert identities(tmp_path, carol_id) == {("workos", CAROL_WORKOS)}

        # 2. The operator's report, from a shell beside the running server.
        before = migration_report(workos)
        # 3. The backfill asks WorkOS again: Bob's Google account is linked;
        #    WorkOS still names none for Carol.
        backfill = run_cli(workos, "workos", "backfill-identities")
        after = migration_report(workos)

    assert (before["users"], before["migrated"], before["stranded"]) == (3, 1, 2)
    assert before["backfillable"] == 2
    assert stranded(before) == {
        bob_id: (["workos"], BOB_WORKOS),
        carol_id: (["workos"], CAROL_WORKOS),
    }
    assert alice_id not in stranded(before)
    assert backfill.returncode == 0, backfill.stderr
    assert sorted(backfill.stderr.splitlines()) == sorted(
        [f"{bob_id}: linked google", f"{carol_id}: no raw identity at WorkOS"]
    )
    assert backfill.stdout.splitlines()[:3] == [
        "backfill-identities: 3 users scanned, 2 to backfill",
        "  linked: 1",
        "  no raw identity at WorkOS: 1",
    ]
    assert API_KEY not in backfill.stdout + backfill.stderr
    assert identities(tmp_path, bob_id) == {("google", BOB), ("workos", BOB_WORKOS)}
    assert (after["users"], after["migrated"], after["stranded"]) == (3, 2, 1)
    assert after["providers"] == {"google": 2, "workos": 3}
    assert stranded(after) == {carol_id: (["workos"], CAROL_WORKOS)}

    # 4. The switch to Google directly: Bob signs in there and is himself.
    google = data_environ(
        tmp_path, WIKIBOT_AUTH_IDP="google", **oidc_peer.environ("google")
    )
    with serve(google) as (base, output):
        again = via_peer(base, oidc_peer, account=BOB)
        log = output.read_text(errors="replace")
    assert again.status_code == 200, again.text
    assert again.json()["user"] == {
        "user_id": bob_id,  # the same platform user
        "email": "bob@example.com",  # his profile synced from Google
        "display_name": "Bob Cratchit",
        "tier": "free",
    }
    assert (
        f"INFO login.succeeded linked=[] provider='google' user_created=False "
        f"user_id='{bob_id}'"
    ) in log
    last = migration_report(google)
    assert (last["users"], last["migrated"]) == (3, 2)
    assert stranded(last) == {carol_id: (["workos"], CAROL_WORKOS)}


def test_alice_stays_herself_while_both_providers_are_offered(
    tmp_path, serve, standin, oidc_peer
):
    """The gentler switch: WorkOS and Google side by side, then Google alone."""
    both = data_environ(
        tmp_path,
        WIKIBOT_AUTH_IDP="workos,google",
        **standin.environ(),
        **oidc_peer.environ("google"),
    )
    with serve(both) as (base, _):
        through_workos = via_workos(base, standin)  # the default provider
        through_google = via_peer(base, oidc_peer, "google")
    assert through_workos.status_code == through_google.status_code == 200
    assert (
        through_workos.json()["user"]["user_id"]
        == through_google.json()["user"]["user_id"]
    )


def test_several_providers_served_and_a_mixed_up_code_never_reaches_the_peer(
    tmp_path, serve, oidc_peer: OIDCPeer, github_standin: GitHubStandIn
):
    environ = data_environ(
        tmp_path,
        WIKIBOT_AUTH_IDP="google,github",
        **github_standin.environ(),
        **oidc_peer.environ("google"),
    )
    with serve(environ) as (base, _):
        github_standin.redirects = (*GITHUB_REDIRECTS, f"{base}/auth/callback/github")
        listed = httpx.get(f"{base}/auth/providers").json()
        chooser = httpx.get(f"{base}/auth/login?return_to=/me", headers=HTML)
        with httpx.Client(base_url=base, timeout=10) as browser:
            # A login at GitHub whose code is brought to Google's callback.
            started = browser.get("/auth/login?provider=github", headers=JSON)
            query = query_of(started.headers["location"])
            assert query["redirect_uri"] == f"{base}/auth/callback/github"
            code = github_standin.issue_code(query["code_challenge"])
            before = oidc_peer.requests().get("/token", 0)
            answer = {"code": code, "state": query["state"]}
            mixed = browser.get(
                f"{base}/auth/callback/google?{urlencode(answer)}", headers=JSON
            )
            after = oidc_peer.requests().get("/token", 0)
        through_google = via_peer(base, oidc_peer, "google")
        with httpx.Client(base_url=base, timeout=10) as browser:
            started = browser.get("/auth/login?provider=github", headers=JSON)
            query = query_of(started.headers["location"])
            code = github_standin.issue_code(query["code_challenge"])
            answer = {"code": code, "state": query["state"]}
            through_github = browser.get(
                f"{query['redirect_uri']}?{urlencode(answer)}", headers=JSON
            )
    assert listed == [
        {"name": "google", "kind": "oidc"},
        {"name": "github", "kind": "github"},
    ]
    assert chooser.status_code == 200
    assert 'href="login?provider=google&amp;return_to=%2Fme"' in chooser.text
    assert 'href="login?provider=github&amp;return_to=%2Fme"' in chooser.text
    assert (mixed.status_code, mixed.json()["error"]) == (400, "invalid_callback")
    assert after == before  # the code went to no token endpoint
    assert len(github_standin.calls("token")) == 1  # only the last login's
    assert through_google.status_code == 200, through_google.text
    assert through_github.status_code == 200, through_github.text
    assert (
        through_github.json()["user"]["user_id"]
        != (through_google.json()["user"]["user_id"])
    )
