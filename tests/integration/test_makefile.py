"""The Makefile's bookkeeping, on a copy of it in an empty project whose pip is
``echo``: nothing is installed, the recipes are only printed."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.missing import required

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def make_is_here() -> None:
    if shutil.which("make") is None:
        required("make")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "setup.py").write_text("")
    for module in ("src/__init__.py", "src/domain/__init__.py", "src/domain/a.py"):
        (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / module).write_text("")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    return tmp_path


def make(project: Path, *goals: str) -> str:
    proc = subprocess.run(
        ["make", "-C", str(project), *goals, "PIP=echo PIP", "PYTHON=false"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    # Every file now looks old, so whatever changes next is strictly newer.
    old = time.time() - 100
    for path in project.rglob("*"):
        os.utime(path, (old, old))
    return proc.stdout


def installs(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("PIP install")]


def dry_run_of_make_test(project: Path) -> str:
    """The recipes ``make test`` would run (printed; nothing is installed),
    with an empty package.json and lock."""
    for name in ("package.json", "package-lock.json"):
        (project / name).write_text("{}")
    return subprocess.run(
        ["make", "-C", str(project), "-n", "test"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    ).stdout


def test_venv_reinstalls_only_when_pyproject_or_the_module_list_changes(project):
    first = installs(make(project, "venv"))
    assert any("[test]" in line for line in first)  # a fresh venv: everything
    assert installs(make(project, "venv")) == []
    (project / "src/domain/a.py").write_text("x = 1\n")  # an edit: links hold
    (project / "src/domain/__pycache__").mkdir()
    (project / "src/domain/__pycache__/a.cpython-311.pyc").write_bytes(b"")
    assert installs(make(project, "venv")) == []
    (project / "src/domain/b.py").write_text("")  # a new module needs its link
    assert installs(make(project, "venv")) != []
    assert installs(make(project, "venv")) == []
    (project / "src/domain/b.py").unlink()
    assert installs(make(project, "venv")) != []
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert any("[test]" in line for line in installs(make(project, "venv")))
    assert installs(make(project, "venv")) == []


def test_clean_removes_every_generated_directory(project):
    generated = [
        ".venv",
        "build",
        "node_modules/dynalite",
        ".bench-venv/bin",
        ".moto-venv/bin",
        "wikibot_auth.egg-info",
        "src/wikibot_auth.egg-info",
        ".ruff_cache/0.15",
        ".mypy_cache",
        ".pytest_cache",
        ".hypothesis",
    ]
    for name in generated:
        (project / name).mkdir(parents=True, exist_ok=True)
    make(project, "clean")
    top = {
        name if name.startswith("src/") else name.split("/")[0] for name in generated
    }
    assert sorted(name for name in top if (project / name).exists()) == []
    assert (project / "src/domain/a.py").exists()
    assert (project / "pyproject.toml").exists()


def test_moto_server_gets_its_own_venv_once_and_make_test_needs_it(project):
    dry = dry_run_of_make_test(project)
    assert "-m venv .moto-venv" in dry
    assert (
        '.moto-venv/bin/pip --disable-pip-version-check -q install "moto[server]' in dry
    )
    assert "touch .moto-venv/.stamp" in dry
    stamp = project / ".moto-venv" / ".stamp"
    stamp.parent.mkdir()
    stamp.touch()  # newer than the Makefile: up to date
    again = subprocess.run(
        ["make", "-C", str(project), "-q", ".moto-venv/.stamp"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert again.returncode == 0


def test_make_test_builds_the_documentation_strictly(project):
    dry = dry_run_of_make_test(project)
    assert ".venv/bin/mkdocs build --strict" in dry
