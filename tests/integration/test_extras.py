"""Each extra's absence, in a subprocess that hides its packages (as if they
were not installed): the import error, ``serve`` and the Lambda handler name
the extra to install; the authorizer and ``AuthMiddleware`` need none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from wikibot_auth.entrypoints.aws_lambda import MISSING_LAMBDA_EXTRA

EVENTS = Path(__file__).parent / "lambda_events"
FRAMEWORKS = ("starlette", "uvicorn", "mangum", "fastapi")


def run_hiding(
    hidden: tuple[str, ...], code: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    prelude = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in hidden)
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WIKIBOT_AUTH_", "WORKOS_", "AWS_"))
    }
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


IMPORT = """
try:
    import {module}
except ImportError as exc:
    print(type(exc).__name__, exc.name, exc, sep="|")
"""


@pytest.mark.parametrize(
    ("module", "hidden", "extra"),
    [
        ("wikibot_auth.entrypoints.routes", "starlette", "server"),
        ("wikibot_auth.entrypoints.fastapi", "fastapi", "fastapi"),
    ],
)
def test_a_module_whose_extra_is_missing_names_it(module, hidden, extra):
    result = run_hiding((hidden,), IMPORT.format(module=module))
    assert result.returncode == 0, result.stderr
    kind, name, message = result.stdout.strip().split("|")
    assert kind == "ModuleNotFoundError"
    assert name.partition(".")[0] == hidden
    assert f"needs {hidden}" in message
    assert f"pip install 'wikibot-auth[{extra}]'" in message


def test_create_app_without_starlette_names_the_server_extra():
    code = """
from wikibot_auth.entrypoints.asgi import create_app
try:
    create_app()
except ImportError as exc:
    print(exc)
"""
    result = run_hiding(("starlette",), code)
    assert "pip install 'wikibot-auth[server]'" in result.stdout, result.stderr


@pytest.mark.parametrize("hidden", ["uvicorn", "starlette"])
def test_serve_without_the_server_extra_exits_2_naming_it(hidden, tmp_path):
    code = "from wikibot_auth.entrypoints.cli import main\nsys.exit(main(['serve']))"
    result = run_hiding(
        (hidden,), code, {"WIKIBOT_AUTH_DATA_DIR": str(tmp_path / "data")}
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"error: serve needs {hidden}, which the 'server' extra installs: "
        "pip install 'wikibot-auth[server]'\n"
    )
    assert not (tmp_path / "data").exists()  # nothing was touched first


HANDLER = """
import json
from wikibot_auth.entrypoints.aws_lambda import handler
event = json.loads(sys.argv[1])
print(json.dumps(handler(event, None)))
"""


@pytest.mark.parametrize("hidden", ["mangum", "starlette"])
def test_the_handler_without_the_lambda_extra_answers_not_configured(hidden):
    event = (EVENTS / "http_v2_proxy.json").read_text()
    result = run_hiding((hidden,), HANDLER.replace("sys.argv[1]", repr(event)))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["statusCode"] == 500
    assert json.loads(answer["body"]) == {
        "error": "not_configured",
        "error_description": MISSING_LAMBDA_EXTRA,
    }
    assert "pip install 'wikibot-auth[lambda]'" in MISSING_LAMBDA_EXTRA
    assert f"{hidden} is missing" in result.stderr
    assert "Traceback" not in result.stderr


AUTHORIZER = """
import json
from wikibot_auth.entrypoints.aws_lambda import authorizer
from wikibot_auth.entrypoints.asgi import AuthMiddleware
try:
    authorizer(json.loads(sys.argv[1]), None)
except Exception as exc:
    print(str(exc))
print(sorted(m for m in sys.modules if m.startswith("wikibot_auth.")))
"""


def test_the_authorizer_and_the_middleware_need_no_extra(tmp_path, private_key):
    keys = tmp_path / "public.pem"
    keys.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    event = (EVENTS / "rest_token_authorizer.json").read_text()
    env = {
        "WIKIBOT_AUTH_ENV": "production",
        "WIKIBOT_AUTH_PUBLIC_KEYS_FILE": str(keys),
        "WIKIBOT_AUTH_USER_STORE": "memory://",
        "AWS_LAMBDA_FUNCTION_NAME": "wikibot-auth-authorizer",
    }
    result = run_hiding(
        FRAMEWORKS,
        AUTHORIZER.replace("sys.argv[1]", repr(event.replace("{token}", "x.y.z"))),
        env,
    )
    assert result.returncode == 0, result.stderr
    refused, modules = result.stdout.splitlines()
    assert refused == "Unauthorized"  # a malformed token, refused by the verifier
    assert "wikibot_auth.entrypoints.containers" in modules
    assert "wikibot_auth.entrypoints.routes" not in modules
