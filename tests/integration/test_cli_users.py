"""``wikibot-auth users ...`` through ``main([...], container=...)``."""

from __future__ import annotations

import json

import pytest
from dependency_injector import providers

from tests.conftest import workos_profile
from wikibot_auth.adapters.memory import FixedClock, InMemoryUserRepository
from wikibot_auth.domain.errors import StoreUnavailable, TokenRevoked
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
    assert record["tokens_valid_after"] == 1_700_000_001
    assert container.user_repository().raw_item("usr_1")["plan_note"] == "kept"
    assert run(capsys, container, "users", "enable", "usr_1")[0] == 0
    stored = container.user_repository().get("usr_1")
    assert stored.disabled is False
    with pytest.raises(TokenRevoked):
        container.authenticate()(f"Bearer {token}")


def test_sign_out_raises_tokens_valid_after(capsys, container):
    code, out, _ = run(capsys, container, "users", "sign-out", "usr_1")
    assert (code, json.loads(out)["tokens_valid_after"]) == (0, 1_700_000_001)


class DownStore(InMemoryUserRepository):
    def get(self, user_id):
        raise StoreUnavailable("throttled")


def test_a_store_outage_exits_3_without_a_traceback(capsys, container):
    container.user_repository.override(providers.Object(DownStore()))
    code, _, err = run(capsys, container, "users", "show", "usr_1")
    assert (code, err.strip()) == (3, "error: store_unavailable")


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
