"""The base install alone (``pip install <repo>``, no extras) in a fresh
virtualenv: the Lambda authorizer allows a valid token against DynamoDB
(dynalite), with a public keys file and with KMS's ``GetPublicKey`` (moto's
server), loading only the top-level modules of an allowlist; the CLI works;
what needs an extra says which one.

The virtualenv is built once per session. dependency-injector imports
Starlette, FastAPI, pydantic-settings and Flask's Werkzeug whenever they are
installed, so this is the only place that shows what a Lambda function
holding just the base package really loads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.factories import make_user
from tests.integration.kms_helpers import kms_of_kind
from tests.integration.store_helpers import AWS_TEST_ENV, Backend
from tests.integration.web import web_env
from tests.missing import required
from wikibot_auth.domain.model import Identity
from wikibot_auth.entrypoints.aws_lambda import MISSING_LAMBDA_EXTRA
from wikibot_auth.entrypoints.containers import create_container

pytest_plugins = ["tests.integration.store_fixtures"]
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EVENTS = Path(__file__).parent / "lambda_events"
SOURCES = ("pyproject.toml", "setup.py", "README.md", "src")

# The top-level modules, beyond the standard library, that the authorizer may
# load at a cold start and on a call: the package, its JWT and crypto stack,
# boto3 with what botocore imports, attrs and dependency-injector. Measured;
# a new entry here is a new cost on every cold start.
ALLOWED = frozenset(
    {
        "wikibot_auth",
        "jwt",
        "cryptography",
        "_openssl",  # cryptography's Rust bindings register it
        "_cffi_backend",
        "attr",
        "attrs",
        "dependency_injector",
        "cython_runtime",  # dependency-injector's compiled modules
        "boto3",
        "botocore",
        "s3transfer",
        "jmespath",
        "dateutil",
        "six",
        "urllib3",
        "certifi",  # botocore's CA bundle, when installed (httpx brings it)
    }
)
# dependency-injector's compiled modules also register a Cython module named
# after the Cython version, e.g. `_cython_3_2_5limitednofinalize`.
CYTHON_PREFIX = "_cython_"
# Never on the authorizer's path: web frameworks, their servers and what they
# pull in, and the IdP client (httpx: the login's only).
BANNED = frozenset(
    {
        "starlette",
        "fastapi",
        "pydantic",
        "pydantic_core",
        "pydantic_settings",
        "flask",
        "werkzeug",
        "uvicorn",
        "mangum",
        "anyio",
        "httpx",
        "httpcore",
        "h11",
        "yaml",
        "sqlite3",
    }
)
# The interpreter's own: __main__, multiprocessing's alias of it (boto3
# imports s3transfer, which imports multiprocessing.managers), and what a
# site's start-up may import before our first statement.
INTERPRETER = frozenset(
    {"__main__", "__mp_main__", "_distutils_hack", "_virtualenv", "sitecustomize"}
)


def _stage_sources(destination: Path) -> Path:
    """A copy of what the build reads: an in-tree build would reuse whatever
    an older one left in build/lib."""
    destination.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, destination / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, destination / name)
    return destination


def _run(command: list[str], timeout: float) -> None:
    try:
        subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=timeout
        )
    except subprocess.CalledProcessError as exc:
        required(f"a virtualenv with the base install: {exc.stderr[-1500:]}")
    except subprocess.TimeoutExpired:
        required(f"a virtualenv with the base install: {command[2:]} timed out")


@pytest.fixture(scope="session")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding ``pip install <repo>`` and nothing else."""
    root = tmp_path_factory.mktemp("base-install")
    source = _stage_sources(root / "source")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "install", "-q", str(source)], timeout=600)
    return venv


def _environment(**variables: str) -> dict[str, str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WIKIBOT_AUTH_", "WORKOS_", "AWS_", "PYTHON"))
    }
    environ.update(variables)
    return environ


def _in_venv(
    venv: Path, args: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=venv,  # never the repository: its src/ must not shadow the install
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_the_base_install_holds_no_web_framework(base_venv):
    code = (
        "import importlib.metadata as m; "
        "print('\\n'.join(sorted(d.metadata['Name'].lower() for d in m.distributions())))"
    )
    result = _in_venv(
        base_venv, [str(base_venv / "bin/python"), "-c", code], _environment()
    )
    installed = set(result.stdout.split())
    assert "wikibot-auth" in installed
    assert "dependency-injector" in installed
    for name in ("starlette", "uvicorn", "mangum", "fastapi", "pydantic", "flask"):
        assert name not in installed


AUTHORIZER = """
import json, sys
from wikibot_auth.entrypoints.aws_lambda import authorizer
answer = authorizer(json.loads(sys.argv[1]), None)
loaded = {name.partition(".")[0] for name in sys.modules}
print(json.dumps({
    "answer": answer,
    "modules": sorted(loaded - set(sys.stdlib_module_names) - set(sys.builtin_module_names)),
    "stdlib": sorted(loaded & set(sys.stdlib_module_names)),
}))
"""


def _public_keys_file(tmp_path: Path, key: rsa.RSAPrivateKey) -> Path:
    path = tmp_path / "public-keys.pem"
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


@pytest.fixture(params=["keys_file", "kms"])
def deployed(
    request: pytest.FixtureRequest,
    dynalite_store_backend: Backend,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    private_key: rsa.RSAPrivateKey,
) -> Iterator[tuple[str, dict[str, str]]]:
    """A user in DynamoDB (dynalite), a token of theirs, and the template's
    authorizer environment: a public keys file, or the KMS key that signed
    (one ``GetPublicKey``, on moto's server)."""
    user, _ = dynalite_store_backend.repo.create(
        make_user("usr_base"), [Identity("google", "g-base")]
    )
    env = {
        **AWS_TEST_ENV,
        "AWS_ENDPOINT_URL_DYNAMODB": os.environ["AWS_ENDPOINT_URL_DYNAMODB"],
        "AWS_LAMBDA_FUNCTION_NAME": "wikibot-auth-authorizer",
        "WIKIBOT_AUTH_ENV": "production",
        "WIKIBOT_AUTH_USER_STORE": f"dynamodb://{dynalite_store_backend.repo.table}",
        "WIKIBOT_AUTH_AUTHORIZER_RESPONSE": "simple",
    }
    if request.param == "keys_file":
        signer = create_container(web_env(tmp_path, private_key)).token_signer()
        env["WIKIBOT_AUTH_PUBLIC_KEYS_FILE"] = str(
            _public_keys_file(tmp_path, private_key)
        )
        yield signer.create_token(user.user_id), env
        return
    endpoint = request.getfixturevalue("moto_server")
    with kms_of_kind("moto_server", monkeypatch, endpoint) as kms:
        key_arn = kms.create_key()
        signer = create_container(
            {
                "WIKIBOT_AUTH_ENV": "production",
                "WIKIBOT_AUTH_KMS_KEY_ID": key_arn,
                "WIKIBOT_AUTH_USER_STORE": "memory://",
            }
        ).token_signer()
        env.update(WIKIBOT_AUTH_KMS_KEY_ID=key_arn, AWS_ENDPOINT_URL_KMS=endpoint)
        yield signer.create_token(user.user_id), env


def _authorize(venv: Path, token: str, env: dict[str, str]) -> dict[str, Any]:
    event = (EVENTS / "http_v2_authorizer.json").read_text().replace("{token}", token)
    result = _in_venv(
        venv,
        [str(venv / "bin/python"), "-c", AUTHORIZER, event],
        _environment(**env),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    probe: dict[str, Any] = json.loads(result.stdout)
    return probe


def test_the_authorizer_on_the_base_install_loads_only_the_allowlist(
    base_venv, deployed
):
    token, env = deployed
    probe = _authorize(base_venv, token, env)
    assert probe["answer"]["isAuthorized"] is True
    assert probe["answer"]["context"]["user_id"] == "usr_base"
    loaded = {
        m for m in probe["modules"] if not m.startswith(CYTHON_PREFIX)
    } - INTERPRETER
    assert not loaded & BANNED, sorted(loaded & BANNED)
    assert loaded <= ALLOWED, sorted(loaded - ALLOWED)
    assert {"wikibot_auth", "jwt", "boto3", "dependency_injector"} <= loaded
    assert "sqlite3" not in probe["stdlib"]


def test_the_cli_works_on_the_base_install(base_venv, tmp_path, private_key):
    signer = create_container(web_env(tmp_path, private_key)).token_signer()
    token = signer.create_token("usr_cli")
    keys = _public_keys_file(tmp_path, private_key)
    result = _in_venv(
        base_venv,
        [
            str(base_venv / "bin/wikibot-auth"),
            "token",
            "verify",
            "--key",
            str(keys),
            token,
        ],
        _environment(),
    )
    assert result.returncode == 0, result.stderr
    assert "usr_cli" in result.stdout


def test_serve_on_the_base_install_exits_2_naming_the_server_extra(base_venv, tmp_path):
    result = _in_venv(
        base_venv,
        [str(base_venv / "bin/wikibot-auth"), "serve"],
        _environment(WIKIBOT_AUTH_DATA_DIR=str(tmp_path / "data")),
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: serve needs ")
    assert "pip install 'wikibot-auth[server]'" in result.stderr
    assert "Traceback" not in result.stderr


EXTRAS = """
import json, sys
from wikibot_auth.entrypoints.asgi import AuthMiddleware
from wikibot_auth.entrypoints.aws_lambda import handler
errors = {}
for module in ("routes", "fastapi"):
    try:
        __import__(f"wikibot_auth.entrypoints.{module}")
    except ImportError as exc:
        errors[module] = str(exc)
answer = handler(json.loads(sys.argv[1]), None)
print(json.dumps({"errors": errors, "handler": answer}))
"""


def test_what_needs_an_extra_names_it_on_the_base_install(base_venv):
    event = (EVENTS / "http_v2_proxy.json").read_text()
    result = _in_venv(
        base_venv,
        [str(base_venv / "bin/python"), "-c", EXTRAS, event],
        _environment(AWS_LAMBDA_FUNCTION_NAME="wikibot-auth-login"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    probe = json.loads(result.stdout)
    assert "pip install 'wikibot-auth[server]'" in probe["errors"]["routes"]
    assert "pip install 'wikibot-auth[fastapi]'" in probe["errors"]["fastapi"]
    assert probe["handler"]["statusCode"] == 500
    assert json.loads(probe["handler"]["body"]) == {
        "error": "not_configured",
        "error_description": MISSING_LAMBDA_EXTRA,
    }
