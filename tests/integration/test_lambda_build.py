"""``make lambda``: the two Lambda packages, built once for the session into a
temporary directory, are for arm64 / Python 3.12 whatever machine builds
them, with every module compiled for 3.12 where a Python 3.12 builds them; the
authorizer's holds no web framework; the template deploys each."""

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
PYENV = Path.home() / ".pyenv" / "versions"
# In Python 3.12: each .pyc's magic is 3.12's, its flags, the file it names.
CHECK_PYC = """
import importlib.util, marshal, sys
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    code = marshal.loads(data[16:])
    print(data[:4] == importlib.util.MAGIC_NUMBER,
          int.from_bytes(data[4:8], "little"), code.co_filename)
"""


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
    assert all(p.name.endswith(".cpython-312.pyc") for p in package.rglob("*.pyc"))


def python_3_12() -> str | None:
    """The interpreter ``make lambda`` compiles with (the Makefile's search)."""
    candidates = ["python3.12", *map(str, PYENV.glob("3.12*/bin/python3.12"))]
    for python in candidates:
        try:
            found = subprocess.run(
                [
                    python,
                    "-c",
                    "import sys; print(sys.version_info[:2], sys.executable)",
                ],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except OSError:
            continue
        if found.returncode == 0 and found.stdout.startswith("(3, 12)"):
            return found.stdout.split()[-1]
    return None


@pytest.mark.parametrize("function", ["authorizer", "login"])
def test_every_module_is_compiled_for_python_3_12_where_one_builds(artifacts, function):
    # Lambda's code is read-only: a module without its .pyc is compiled again
    # at every cold start.
    package = artifacts / function
    sources = sorted(package.rglob("*.py"))
    compiled = sorted(package.rglob("*.pyc"))
    python = python_3_12()
    if python is None:  # the build warned; nothing half-compiled
        assert compiled == []
        return
    expected = [p.parent / "__pycache__" / f"{p.stem}.cpython-312.pyc" for p in sources]
    assert compiled == sorted(expected)
    probe = subprocess.run(
        [python, "-c", CHECK_PYC, *map(str, compiled[:: max(len(compiled) // 40, 1)])],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for line in probe.stdout.splitlines():
        magic_ok, flags, filename = line.split(" ", 2)
        assert (magic_ok, flags) == ("True", "1"), line  # unchecked hash
        assert filename.startswith("/var/task/"), line


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
