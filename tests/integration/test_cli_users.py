"""``wikibot-auth users ...`` through ``main([...], container=...)``."""

from __future__ import annotations

import json

import pytest
from dependency_injector import providers
from moto import mock_aws

from tests.conftest import workos_profile
from tests.integration.store_helpers import AWS_TEST_ENV
from wikibot_auth.adapters.memory import FixedClock, InMemoryUserRepository
from wikibot_auth.domain.errors import (
    IdPError,
    IdPUnavailable,
    NotConfigured,
    StoreUnavailable,
    TokenRevoked,
)
from wikibot_auth.domain.model import User
from wikibot_auth.entrypoints.cli import main
from wikibot_auth.entrypoints.containers import create_container


@pytest.fixture
def container(tmp_path, key_file):
    built = create_container(
        {
            "WIKIBOT_AUTH_DATA_DIR": str(tmp_path),
            "WIKIBOT_AUTH_USER_STORE": "memory://",
            "WIKIBOT_AUTH_PRIVATE_KEY_FILE": str(key_file),
        }
    )
    built.clock.override(providers.Object(FixedClock(1_700_000_000)))
    repo = built.user_repository()
    repo.create(
        User.new("usr_1", workos_profile(), 1_600_000_000), [workos_profile().alias]
    )
    repo.put_raw_item({**repo.raw_item("usr_1"), "plan_note": "kept"})
    return built


def run(capsys, container, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), container=container)
    out, err = capsys.readouterr()
    return code, out, err


def test_show_prints_the_record_as_json(capsys, container):
    code, out, _ = run(capsys, container, "users", "show", "usr_1")
    record = json.loads(out)
    assert code == 0
    assert record["user_id"] == "usr_1"
    assert record["email"] == "ada@example.com"
    assert record["disabled"] is False


def test_an_unknown_user_exits_1(capsys, container):
    for verb in ("show", "disable", "enable", "sign-out"):
        code, out, err = run(capsys, container, "users", verb, "usr_nobody")
        assert (code, out, err.strip()) == (1, "", "error: unknown_user")


def test_disable_also_signs_out_everywhere(capsys, container):
    token = container.token_signer().create_token("usr_1")
    code, out, _ = run(capsys, container, "users", "disable", "usr_1")
    assert code == 0
    record = json.loads(out)
    assert record["disabled"] is True
    assert (record["token_generation"], record["tokens_valid_after"]) == (
        1,
        1_700_000_000,
    )
    assert container.user_repository().raw_item("usr_1")["plan_note"] == "kept"
    assert run(capsys, container, "users", "enable", "usr_1")[0] == 0
    stored = container.user_repository().get("usr_1")
    assert stored.disabled is False
    with pytest.raises(TokenRevoked):
        container.authenticate()(f"Bearer {token}")


def test_sign_out_counts_a_generation_and_records_when(capsys, container):
    token = container.token_signer().create_token("usr_1")
    for generation in (1, 2):
        code, out, _ = run(capsys, container, "users", "sign-out", "usr_1")
        record = json.loads(out)
        assert code == 0
        assert (record["token_generation"], record["tokens_valid_after"]) == (
            generation,
            1_700_000_000,
        )
    with pytest.raises(TokenRevoked):
        container.authenticate()(f"Bearer {token}")


class DownStore(InMemoryUserRepository):
    def get(self, user_id):
        raise StoreUnavailable("throttled")


def test_a_store_outage_exits_3_without_a_traceback(capsys, container):
    container.user_repository.override(providers.Object(DownStore()))
    code, _, err = run(capsys, container, "users", "show", "usr_1")
    assert (code, err) == (3, "error: store_unavailable\nthrottled\n")


@pytest.mark.parametrize(
    "error",
    [
        StoreUnavailable("DynamoDB table 't' is throttling requests"),
        IdPUnavailable("WorkOS did not answer in time"),
        IdPError("WorkOS answered a body that is not JSON"),
        NotConfigured("WIKIBOT_AUTH_IDP must be one of workos, local, none"),
    ],
    ids=lambda error: error.code,
)
def test_dependency_and_configuration_errors_print_their_message(
    error, capsys, container
):
    class Failing(InMemoryUserRepository):
        def get(self, user_id):
            raise error

    container.user_repository.override(providers.Object(Failing()))
    code, out, err = run(capsys, container, "users", "show", "usr_1")
    assert (out, err) == ("", f"error: {error.code}\n{error.message}\n")
    assert code == (2 if error.code == "not_configured" else 3)


@pytest.fixture
def store_environ(monkeypatch, tmp_path):
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WIKIBOT_AUTH_DATA_DIR", str(tmp_path / "data"))
    return monkeypatch


def _no_aws_secret(text: str) -> bool:
    return all(
        AWS_TEST_ENV[name] not in text
        for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    )


def test_a_missing_dynamodb_table_is_named_with_how_to_create_it(store_environ, capsys):
    store_environ.setenv("WIKIBOT_AUTH_USER_STORE", "dynamodb://wikibot-no-such-table")
    with mock_aws():
        code, out, err = run(capsys, None, "users", "show", "usr_1")
    assert (code, out) == (3, "")
    first, reason = err.splitlines()
    assert first == "error: store_unavailable"
    assert "'wikibot-no-such-table' does not exist" in reason
    assert "dynamodb create-table --table wikibot-no-such-table" in reason
    assert _no_aws_secret(err)


def test_an_unusable_sqlite_path_is_named_with_the_failure(
    store_environ, tmp_path, capsys
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    path = blocker / "db" / "users.db"
    store_environ.setenv("WIKIBOT_AUTH_USER_STORE", f"sqlite:///{path}")
    code, out, err = run(capsys, None, "users", "show", "usr_1")
    assert (code, out) == (3, "")
    first, reason = err.splitlines()
    assert first == "error: store_unavailable"
    assert str(path) in reason
    assert "NotADirectoryError" in reason
    assert _no_aws_secret(err)


def test_usage_errors_exit_2(capsys, container):
    assert run(capsys, container, "users", "show")[0] == 2
    assert run(capsys, container, "users", "explode", "usr_1")[0] == 2


@pytest.mark.parametrize(
    "argv",
    [["users", "--help"], ["users", "show", "--help"], ["users", "sign-out", "--help"]],
)
def test_help_everywhere(capsys, container, argv):
    code, out, _ = run(capsys, container, *argv)
    assert code == 0
    assert "usage:" in out
