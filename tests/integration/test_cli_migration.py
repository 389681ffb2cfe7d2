"""The migration tools through ``main([...], container=...)``: ``users
migration-report``, ``link-identity``, ``unlink-identity``, ``merge`` and
``workos backfill-identities`` against the WorkOS stand-in server; and the
story of issue 11: Bob, whose identities call failed at his first login, is
stranded, backfilled, then migrated; Carol (local only) stays stranded."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from dependency_injector import providers

from tests.factories import add_user
from tests.integration.workos_standin import API_KEY, CLIENT_ID, WorkOSStandIn, s256
from wikibot_auth.adapters.memory import FixedClock
from wikibot_auth.domain.model import Identity
from wikibot_auth.domain.pkce import new_code_verifier
from wikibot_auth.entrypoints.cli import main
from wikibot_auth.entrypoints.containers import Container, create_container

BOB_WORKOS = "user_01BOB0000000000000000000000"
BOB_GITHUB = Identity("github", "583231")  # identities_github.json
CAROL = Identity.local("carol@example.com")


@pytest.fixture
def container(
    tmp_path, key_file, standin: WorkOSStandIn, sleeps
) -> Iterator[Container]:
    built = create_container(
        {
            "WORKOS_API_KEY": API_KEY,
            "WORKOS_CLIENT_ID": CLIENT_ID,
            "WORKOS_BASE_URL": standin.url,
            "WIKIBOT_AUTH_USER_STORE": "memory://",
            "WIKIBOT_AUTH_DATA_DIR": str(tmp_path),
            "WIKIBOT_AUTH_PRIVATE_KEY_FILE": str(key_file),
            "WIKIBOT_AUTH_REDIRECT_URI": "https://wiki.example/auth/callback",
        }
    )
    built.clock.override(providers.Object(FixedClock(1_700_000_000)))
    built.sleep.override(providers.Object(sleeps))
    yield built
    built.shutdown_resources()


def run(capsys, container, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), container=container)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert API_KEY not in out + err
    return code, out, err


def report(capsys, container) -> dict:
    code, out, _ = run(
        capsys, container, "users", "migration-report", "--json", "--list"
    )
    assert code == 0
    return json.loads(out)


def stranded_ids(data: dict) -> list[str]:
    return [u["user_id"] for u in data["stranded_users"]]


def workos_login(container: Container, standin: WorkOSStandIn, scenario: str, **user):
    """A WorkOS login through the container's exchange_auth_code."""
    verifier = new_code_verifier()
    code = standin.issue_code(s256(verifier), scenario, **user)
    return container.exchange_auth_code()(code, verifier)


# -- the story


def test_bob_is_backfilled_and_carol_stays_stranded(
    capsys, container, standin, caplog
) -> None:
    alice = workos_login(container, standin, "google")
    standin.fail("identities", "500", times=2)  # the client's retry fails too
    bob = workos_login(container, standin, "github", id=BOB_WORKOS)
    assert bob.user.record.oauth_provider == "workos"  # the alias only
    repo = container.user_repository()
    add_user(repo, "usr_carol", CAROL, email="carol@example.com")

    before = report(capsys, container)
    assert before["migrated"] == 1
    assert stranded_ids(before) == sorted([bob.user.user_id, "usr_carol"])
    assert before["backfillable"] == 1

    with caplog.at_level(logging.INFO, logger="wikibot_auth"):
        code, out, err = run(capsys, container, "workos", "backfill-identities")
    assert code == 0
    assert err.splitlines() == [f"{bob.user.user_id}: linked github"]
    assert "1 to backfill" in out
    assert "  linked: 1" in out
    assert repo.find_by_identity(BOB_GITHUB).user_id == bob.user.user_id
    assert [r.getMessage() for r in caplog.records].count("identity.linked") == 1

    after = report(capsys, container)
    assert after["migrated"] == 2
    assert stranded_ids(after) == ["usr_carol"]
    assert after["providers"] == {"github": 1, "google": 1, "local": 1, "workos": 2}
    assert alice.user.user_id not in stranded_ids(after)
    # Run again: nothing left to ask WorkOS about.
    asked = len(standin.calls("identities"))
    code, out, _ = run(capsys, container, "workos", "backfill-identities")
    assert (code, len(standin.calls("identities"))) == (0, asked)
    assert "0 to backfill" in out


# -- the backfill against the stand-in


def _bob(container: Container) -> None:
    add_user(container.user_repository(), "usr_bob", Identity.workos(BOB_WORKOS))


def test_a_429_is_waited_out_as_its_retry_after_says(
    capsys, container, standin, sleeps
) -> None:
    _bob(container)
    standin.identities[BOB_WORKOS] = "identities_github"
    standin.fail("identities", "429", times=2)  # Retry-After: 7
    code, out, _ = run(capsys, container, "workos", "backfill-identities")
    assert code == 0
    assert sleeps == [7.0, 7.0]
    assert "  linked: 1" in out
    assert len(standin.calls("identities")) == 3


def test_a_429_that_lasts_stops_with_exit_3_and_a_rerun_finishes(
    capsys, container, standin, sleeps
) -> None:
    _bob(container)
    standin.identities[BOB_WORKOS] = "identities_github"
    standin.fail("identities", "429", times=5)
    code, out, err = run(capsys, container, "workos", "backfill-identities")
    assert code == 3
    assert "stopped early: idp_unavailable" in out
    assert "usr_bob: failed (idp_unavailable)" in err
    assert container.user_repository().find_by_identity(BOB_GITHUB) is None
    code, out, _ = run(capsys, container, "workos", "backfill-identities")
    assert (code, "  linked: 1" in out) == (0, True)


def test_dry_run_writes_nothing(capsys, container, standin) -> None:
    _bob(container)
    standin.identities[BOB_WORKOS] = "identities_github"
    code, out, err = run(
        capsys, container, "workos", "backfill-identities", "--dry-run"
    )
    assert code == 0
    assert "(dry run: nothing written)" in out
    assert "  would link: 1" in out
    assert err == "usr_bob: would link github\n"
    assert container.user_repository().find_by_identity(BOB_GITHUB) is None


def test_a_deleted_workos_user_fails_alone(capsys, container, standin) -> None:
    _bob(container)  # the stand-in knows no identities for it: 404
    code, out, err = run(capsys, container, "workos", "backfill-identities")
    assert code == 0
    assert err == "usr_bob: failed (idp_error)\n"
    assert "failed (see the log; run again): 1" in out


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_bar(capsys, container, standin, monkeypatch):
    _bob(container)
    add_user(container.user_repository(), "usr_pat", Identity.workos("user_01PAT"))
    standin.identities[BOB_WORKOS] = "identities_github"
    standin.identities["user_01PAT"] = "identities_empty"
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    code, _, _ = run(capsys, container, "workos", "backfill-identities")
    assert code == 0
    shown = terminal.getvalue()
    assert shown.startswith("\rbackfill [")
    assert "] 2/2  linked 1  no raw identity at WorkOS 1" in shown
    assert shown.endswith("\n")
    assert "usr_bob:" not in shown  # no plain lines on a terminal


def test_without_a_workos_key_the_backfill_is_not_configured(capsys, tmp_path):
    container = create_container(
        {"WIKIBOT_AUTH_USER_STORE": "memory://", "WIKIBOT_AUTH_DATA_DIR": str(tmp_path)}
    )
    code, out, err = run(capsys, container, "workos", "backfill-identities")
    assert (code, out) == (2, "")
    assert (
        err == "error: not_configured\nthe backfill needs WorkOS: set WORKOS_API_KEY\n"
    )


# -- the report, and the operator's repairs


def test_the_report_in_plain_text(capsys, container) -> None:
    repo = container.user_repository()
    add_user(repo, "usr_alice", Identity("google", "1"), Identity.workos("user_a"))
    add_user(repo, "usr_bob", Identity.workos("user_b"), email="bob@example.com")
    code, out, _ = run(capsys, container, "users", "migration-report", "--list")
    assert code == 0
    assert out.splitlines() == [
        "users: 2",
        "  migrated (a direct provider finds them): 1",
        "  stranded (only the workos alias or local): 1 (1 for workos "
        "backfill-identities)",
        "  merged into another user: 0",
        "users holding an identity, by provider:",
        "  google: 1",
        "  workos: 2",
        "stranded users (user_id, email, providers, workos user):",
        "  usr_bob\tbob@example.com\tworkos\tuser_b",
    ]
    code, out, _ = run(capsys, container, "users", "migration-report", "--json")
    assert "stranded_users" not in json.loads(out)


def test_link_and_unlink_print_the_record_with_its_identities(capsys, container):
    add_user(container.user_repository(), "usr_bob", Identity.workos("user_b"))
    code, out, _ = run(
        capsys, container, "users", "link-identity", "usr_bob", "github", "583231"
    )
    record = json.loads(out)
    assert code == 0
    assert (record["oauth_provider"], record["oauth_provider_sub"]) == (
        "github",
        "583231",
    )
    assert record["identities"] == [
        {"provider": "github", "subject": "583231"},
        {"provider": "workos", "subject": "user_b"},
    ]
    code, out, _ = run(
        capsys, container, "users", "unlink-identity", "usr_bob", "workos", "user_b"
    )
    assert code == 0
    assert json.loads(out)["identities"] == [
        {"provider": "github", "subject": "583231"}
    ]


def test_refusals_exit_1_saying_why_without_the_subject(capsys, container) -> None:
    repo = container.user_repository()
    add_user(repo, "usr_ada", Identity("google", "secret-ish-sub"))
    add_user(repo, "usr_bob", Identity.workos("user_b"))
    cases = [
        (
            ["link-identity", "usr_bob", "google", "secret-ish-sub"],
            "belongs to user usr_ada",
        ),
        (
            ["unlink-identity", "usr_ada", "google", "secret-ish-sub"],
            "the last of user",
        ),
        (["merge", "usr_bob", "usr_bob"], "cannot merge a user into itself"),
    ]
    for argv, why in cases:
        code, out, err = run(capsys, container, "users", *argv)
        first, reason = err.splitlines()
        assert (code, out, first) == (1, "", "error: operation_refused")
        assert why in reason
        assert "secret-ish-sub" not in reason
    code, _, err = run(capsys, container, "users", "merge", "usr_bob", "usr_ghost")
    assert (code, err) == (1, "error: unknown_user\nno target user usr_ghost\n")


def test_merge_prints_both_records_and_what_moved(capsys, container) -> None:
    repo = container.user_repository()
    add_user(repo, "usr_bob", Identity.workos("user_b"), tier="pro")
    add_user(repo, "usr_bob_2", Identity("github", "583231"))
    code, out, _ = run(capsys, container, "users", "merge", "usr_bob_2", "usr_bob")
    result = json.loads(out)
    assert code == 0
    assert result["moved"] == [{"provider": "github", "subject": "583231"}]
    assert result["left"] == []
    assert (result["from"]["disabled"], result["from"]["merged_into"]) == (
        True,
        "usr_bob",
    )
    assert (result["into"]["oauth_provider"], result["into"]["tier"]) == (
        "github",
        "pro",
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["users", "link-identity", "usr_1", "Google", "1"],
        ["users", "link-identity", "usr_1", "google", ""],
        ["users", "unlink-identity", "usr_1", "google"],
        ["users", "merge", "usr_1"],
        ["users", "migration-report", "--csv"],
        ["workos", "backfill-identities", "--force"],
        ["workos"],
    ],
)
def test_usage_errors_exit_2(capsys, container, argv) -> None:
    code, out, _ = run(capsys, container, *argv)
    assert (code, out) == (2, "")
