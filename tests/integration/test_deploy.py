"""The SAM template in deploy/: cfn-lint passes and it wires what the code has."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from cfnlint.decode import cfn_yaml

from wikibot_auth.entrypoints import aws_lambda

TEMPLATE = Path(__file__).parents[2] / "deploy" / "template.yaml"


def cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("cfn-lint", path=str(Path(sys.executable).parent))
    assert executable is not None
    return subprocess.run(
        [executable, "--regions", "us-east-1", "--", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_template_passes_cfn_lint():
    result = cfn_lint(TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_would_catch_a_broken_template(tmp_path):
    broken = tmp_path / "template.yaml"
    broken.write_text(TEMPLATE.read_text().replace("PAY_PER_REQUEST", "PAY_PER_SNACK"))
    assert cfn_lint(broken).returncode != 0


def test_the_template_wires_the_table_and_the_handlers():
    template = cfn_yaml.load(str(TEMPLATE))
    resources = template["Resources"]
    table = resources["UsersTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [
        {"AttributeName": "pk", "AttributeType": "S"}
    ]
    for name, function in (
        ("AuthorizerFunction", "authorizer"),
        ("LoginFunction", "handler"),
    ):
        handler = resources[name]["Properties"]["Handler"]
        module, _, attribute = handler.rpartition(".")
        assert module == aws_lambda.__name__
        assert attribute == function
    authorizer_env = resources["AuthorizerFunction"]["Properties"]["Environment"][
        "Variables"
    ]
    assert "WIKIBOT_AUTH_PRIVATE_KEY" not in authorizer_env
    assert "WIKIBOT_AUTH_PUBLIC_KEYS_FILE" in authorizer_env
    login_env = resources["LoginFunction"]["Properties"]["Environment"]["Variables"]
    assert {
        "WIKIBOT_AUTH_PRIVATE_KEY",
        "WIKIBOT_AUTH_REDIRECT_URI",
        "WORKOS_API_KEY",
    } <= set(login_env)
