"""The README's recipes run as written (the curl login against a real
``wikibot-auth serve``, the Python example against a configured store), and
the files it names exist."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.server import clean_environ, running_server
from tests.missing import required
from wikibot_auth.domain.model import Identity, IdentityProfile, User
from wikibot_auth.entrypoints.containers import create_container
from wikibot_auth.entrypoints.keys import DEV_KEY_NAME

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DEFAULT_BASE = "http://127.0.0.1:8000"


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def python_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", section("In Python"), re.S)
    assert len(blocks) == 1, "one Python block in 'In Python'"
    return blocks[0]


def curl_recipe() -> str:
    blocks = re.findall(r"```(?:sh|bash)\n(.*?)```", section("Log in with curl"), re.S)
    assert len(blocks) == 1, "one shell block in 'Log in with curl'"
    assert DEFAULT_BASE in blocks[0]
    return blocks[0]


def run_recipe(base: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("curl") is None:
        required("curl")
    script = tmp_path / "login.sh"
    script.write_text(curl_recipe().replace(DEFAULT_BASE, base))
    return subprocess.run(
        ["bash", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def serve_environ(tmp_path: Path) -> dict[str, str]:
    # The embedded defaults of `make serve`: SQLite and a key in the data dir.
    return clean_environ(WIKIBOT_AUTH_DATA_DIR=str(tmp_path / "data"))


def test_the_curl_recipe_logs_in_signs_out_and_shows_the_revocation(tmp_path):
    with running_server(tmp_path, serve_environ(tmp_path)) as (base, _):
        proc = run_recipe(base, tmp_path)
    assert (proc.returncode, "Traceback" in proc.stderr) == (0, False), proc.stderr
    me, signed_out, after = proc.stdout.splitlines()
    user = json.loads(me)
    assert (user["email"], user["display_name"]) == (
        "ada@example.com",
        "Ada Lovelace",
    )
    assert signed_out == "sign-out everywhere: HTTP 204"
    assert json.loads(after)["error"] == "token_revoked"
    assert "eyJ" not in proc.stdout + proc.stderr  # the token is never printed


def test_the_curl_recipe_stops_at_a_refused_login_and_shows_why(tmp_path):
    environ = serve_environ(tmp_path)
    store = create_container(environ).user_repository()
    profile = IdentityProfile(
        alias=Identity.local("ada@example.com"), email="ada@example.com"
    )
    store.create(User.new("usr_disabled", profile, 1_700_000_000), [profile.alias])
    store.set_disabled("usr_disabled", True)
    with running_server(tmp_path, environ) as (base, _):
        proc = run_recipe(base, tmp_path)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert json.loads(proc.stderr.splitlines()[-1])["error"] == "user_disabled"
    assert proc.stdout == ""  # no step ran after the refused login


def test_the_python_example_names_the_user_of_a_token_and_refuses_others(
    tmp_path, monkeypatch
):
    environ = serve_environ(tmp_path)
    for name in set(os.environ) - set(environ):
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)  # what create_container() reads
    container = create_container()
    profile = IdentityProfile(
        alias=Identity.local("ada@example.com"),
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
    )
    container.user_repository().create(
        User.new("usr_ada", profile, 1_700_000_000), [profile.alias]
    )
    token = container.token_signer().create_token("usr_ada")
    namespace: dict[str, Any] = {}
    exec(compile(python_example(), "README.md", "exec"), namespace)  # noqa: S102
    who_is = namespace["who_is"]
    assert who_is(f"Bearer {token}") == "Ada Lovelace <ada@example.com>, tier free"
    assert who_is(None) == "refused: missing_token"
    assert who_is(f"Bearer {token}x") == "refused: invalid_token"


@pytest.mark.parametrize("name", ["README.md", "pyproject.toml", "Makefile"])
def test_the_project_files_name_no_document_missing_from_the_repository(name):
    text = (ROOT / name).read_text()
    named = set(re.findall(r"(?<![\w/.:-])([\w./-]+\.md)\b", text))
    assert sorted(doc for doc in named if not (ROOT / doc).is_file()) == []


def test_the_readme_names_the_development_key_for_token_mint():
    text = README.read_text()
    assert f"--key .wikibot-auth/{DEV_KEY_NAME}" in text
