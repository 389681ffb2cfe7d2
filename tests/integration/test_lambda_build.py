"""``make lambda``: the two Lambda packages, built once for the session into a
temporary directory, are for arm64 / Python 3.12 whatever machine builds
them; the authorizer's holds no web framework; the template deploys each."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

from tests.missing import required

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "template.yaml"
EM_AARCH64 = 183  # e_machine of an ELF file for arm64
FRAMEWORKS = ("starlette", "uvicorn", "mangum", "fastapi", "pydantic", "flask")


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make lambda`` into a temporary LAMBDA_DIR, with this interpreter's pip
    (``-o``: the Makefile's .venv is left as it is)."""
    for tool in ("make", "tar"):
        if shutil.which(tool) is None:
            required(tool)
    where = tmp_path_factory.mktemp("lambda")
    pip = f"{sys.executable} -m pip --disable-pip-version-check -q"
    try:
        subprocess.run(
            [
                "make",
                "-C",
                str(ROOT),
                "-o",
                ".venv/.stamp-install",
                "lambda",
                f"LAMBDA_DIR={where}",
                f"PIP={pip}",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
    except subprocess.CalledProcessError as exc:
        required(f"make lambda: {exc.stderr[-1500:]}")
    except subprocess.TimeoutExpired:
        required("make lambda did not finish within 600 s")
    return where


def elf_machine(path: Path) -> int:
    """The ``e_machine`` field of an ELF file's header."""
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    byteorder = "little" if header[5] == 1 else "big"
    return int.from_bytes(header[18:20], byteorder)


def top_level(package: Path) -> set[str]:
    """The import names and distributions a package directory holds."""
    names = set()
    for entry in package.iterdir():
        name = entry.name.partition(".")[0] if entry.is_file() else entry.name
        names.add(re.split(r"-\d", name)[0].lower().replace("-", "_"))
    return names


@pytest.mark.parametrize("function", ["authorizer", "login"])
def test_every_shared_object_is_arm64_for_python_3_12(artifacts, function):
    package = artifacts / function
    shared = sorted(package.rglob("*.so"))
    # cryptography, its cffi backend and dependency-injector carry native code
    assert {p.relative_to(package).parts[0] for p in shared} >= {
        "cryptography",
        "dependency_injector",
    }
    for path in shared:
        assert elf_machine(path) == EM_AARCH64, path
        assert "x86_64" not in path.name
        version = re.search(r"cpython-(\d+)", path.name)
        assert version is None or version.group(1) == "312", path.name
    # nothing compiled for the building machine's Python
    assert not list(package.rglob("*.pyc"))


def test_the_authorizer_package_holds_no_web_framework(artifacts):
    held = top_level(artifacts / "authorizer")
    assert {"wikibot_auth", "jwt", "cryptography", "boto3"} <= held
    assert not set(FRAMEWORKS) & held, sorted(set(FRAMEWORKS) & held)


def test_the_login_package_holds_the_lambda_extra_only(artifacts):
    held = top_level(artifacts / "login")
    assert {"wikibot_auth", "mangum", "starlette"} <= held
    assert not {"uvicorn", "fastapi", "pydantic", "flask"} & held


@pytest.mark.parametrize("function", ["authorizer", "login"])
def test_each_package_holds_every_module_of_the_source(artifacts, function):
    shipped = artifacts / function / "wikibot_auth"
    source = ROOT / "src"
    assert sorted(p.relative_to(shipped) for p in shipped.rglob("*.py")) == sorted(
        p.relative_to(source) for p in source.rglob("*.py")
    )
    assert (shipped / "py.typed").exists()


def test_the_template_deploys_each_package_to_its_function():
    resources = cfn_yaml.load(str(TEMPLATE))["Resources"]
    assert "CodeUri" not in cfn_yaml.load(str(TEMPLATE))["Globals"]["Function"]
    code = {
        name: resources[name]["Properties"]["CodeUri"]
        for name in ("AuthorizerFunction", "LoginFunction")
    }
    assert code == {
        "AuthorizerFunction": "../build/lambda/authorizer",
        "LoginFunction": "../build/lambda/login",
    }
    makefile = (ROOT / "Makefile").read_text()
    assert "LAMBDA_DIR ?= build/lambda\n" in makefile
