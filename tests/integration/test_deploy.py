"""The SAM template in deploy/: cfn-lint passes and it wires what the code has."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    assert not {"WIKIBOT_AUTH_PRIVATE_KEY", "WIKIBOT_AUTH_PRIVATE_KEY_FILE"} & set(
        authorizer_env
    )
    assert {"WIKIBOT_AUTH_KMS_KEY_ID", "WIKIBOT_AUTH_PUBLIC_KEYS_FILE"} <= set(
        authorizer_env
    )
    login_env = resources["LoginFunction"]["Properties"]["Environment"]["Variables"]
    assert {
        "WIKIBOT_AUTH_KMS_KEY_ID",
        "WIKIBOT_AUTH_REDIRECT_URI",
        "WORKOS_API_KEY",
    } <= set(login_env)
    assert "WIKIBOT_AUTH_PRIVATE_KEY" not in login_env


def test_no_private_key_is_a_parameter_and_kms_signs_by_default():
    template = cfn_yaml.load(str(TEMPLATE))
    parameters = template["Parameters"]
    assert "PrivateKeyPem" not in parameters
    assert parameters["SigningKeyFile"]["Default"] == ""  # KMS unless asked
    assert parameters["PublicKeysFile"]["Default"] == ""  # the first deploy
    assert template["Conditions"]["UseKms"] == {
        "Fn::Equals": [{"Ref": "SigningKeyFile"}, ""]
    }
    login_env = template["Resources"]["LoginFunction"]["Properties"]["Environment"][
        "Variables"
    ]
    # Exactly one of the two, never both (the settings refuse both); the key
    # by ARN, so a rotation's new ARN gives the functions new instances.
    assert login_env["WIKIBOT_AUTH_KMS_KEY_ID"] == {
        "Fn::If": [
            "UseKms",
            {
                "Fn::If": [
                    "HasSigningKeyArn",
                    {"Ref": "SigningKeyArn"},
                    {"Fn::GetAtt": ["SigningKey", "Arn"]},
                ]
            },
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert login_env["WIKIBOT_AUTH_PRIVATE_KEY_FILE"] == {
        "Fn::If": ["UseKms", {"Ref": "AWS::NoValue"}, {"Ref": "SigningKeyFile"}]
    }


def test_the_signing_key_is_rsa_2048_for_signing_only():
    resources = cfn_yaml.load(str(TEMPLATE))["Resources"]
    key = resources["SigningKey"]["Properties"]
    assert (key["KeySpec"], key["KeyUsage"]) == ("RSA_2048", "SIGN_VERIFY")
    alias = resources["SigningKeyAlias"]["Properties"]
    assert alias["TargetKeyId"] == {
        "Fn::If": ["HasSigningKeyArn", {"Ref": "SigningKeyArn"}, {"Ref": "SigningKey"}]
    }


def _statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every policy statement anywhere in the template."""
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            yield node
        for value in node.values():
            yield from _statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _statements(value)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal(principal: Any) -> str:
    """A role's logical id, or ``root`` for the account."""
    if isinstance(principal, dict) and "Fn::GetAtt" in principal:
        return str(principal["Fn::GetAtt"][0])
    assert principal == {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    return "root"


# What the account root may do with the key: administer it. Reading the
# public key (published in the JWKS anyway) lets operators run keys publish.
ADMINISTRATION = {
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:PutKeyPolicy",
    "kms:ListKeyPolicies",
    "kms:ListResourceTags",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
    "kms:ListGrants",
    "kms:RevokeGrant",
    "kms:GetPublicKey",
}


def test_the_kms_statements_are_exactly_the_least_privilege():
    """Root administers (never signs, grants or kms:*), the login role signs
    and reads the public key, the authorizer's role only reads it; nothing
    else in the template mentions KMS."""
    template = cfn_yaml.load(str(TEMPLATE))
    key_policy = template["Resources"]["SigningKey"]["Properties"]["KeyPolicy"]
    in_key_policy = key_policy["Statement"]
    everywhere = list(_statements(template))
    mentioning_kms = [s for s in everywhere if "kms" in json.dumps(s).lower()]
    assert mentioning_kms == in_key_policy  # no role or other policy names KMS

    granted: dict[str, set[str]] = {}
    for statement in in_key_policy:
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement
        assert "NotPrincipal" not in statement
        assert statement["Resource"] == "*"  # in a key policy: this key only
        for principal in _listed(statement["Principal"]["AWS"]):
            name = _principal(principal)
            granted.setdefault(name, set()).update(_listed(statement["Action"]))
    assert granted == {
        "root": ADMINISTRATION,
        "LoginRole": {"kms:Sign", "kms:GetPublicKey"},
        "AuthorizerRole": {"kms:GetPublicKey"},
    }
    assert not any("*" in action for actions in granted.values() for action in actions)
    (signing,) = [s for s in in_key_policy if "kms:Sign" in _listed(s["Action"])]
    assert signing["Condition"] == {
        "StringEquals": {
            "kms:SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256",
            "kms:MessageType": "RAW",
        }
    }


def test_the_functions_run_as_the_roles_the_key_policy_names():
    resources = cfn_yaml.load(str(TEMPLATE))["Resources"]
    for function, role in (
        ("AuthorizerFunction", "AuthorizerRole"),
        ("LoginFunction", "LoginRole"),
    ):
        properties = resources[function]["Properties"]
        assert properties["Role"] == {"Fn::GetAtt": [role, "Arn"]}
        assert "Policies" not in properties
    write = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    authorizer_actions = {
        action
        for statement in _statements(resources["AuthorizerRole"])
        for action in _listed(statement["Action"])
    }
    assert not write & authorizer_actions


def test_cfn_lint_would_catch_a_role_that_names_the_key(tmp_path):
    """The circular reference the key policy's design avoids."""
    cyclic = tmp_path / "template.yaml"
    cyclic.write_text(
        TEMPLATE.read_text().replace(
            "                  - dynamodb:ConditionCheckItem\n"
            "                Resource:\n",
            "                  - dynamodb:ConditionCheckItem\n"
            "                  - kms:Sign\n"
            "                Resource:\n"
            "                  - !GetAtt SigningKey.Arn\n",
        )
    )
    assert cyclic.read_text() != TEMPLATE.read_text()
    result = cfn_lint(cyclic)
    assert "E3004" in result.stdout, result.stdout


def test_both_functions_log_json_at_info():
    template = cfn_yaml.load(str(TEMPLATE))
    logging_config = template["Globals"]["Function"]["LoggingConfig"]
    assert logging_config["LogFormat"] == "JSON"
    assert logging_config["ApplicationLogLevel"] == "INFO"  # the audit events
    for name in ("AuthorizerFunction", "LoginFunction"):
        properties = template["Resources"][name]["Properties"]
        assert "LoggingConfig" not in properties  # none overrides the global one
