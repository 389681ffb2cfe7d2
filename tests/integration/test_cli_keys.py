"""``wikibot-auth keys publish``: the JWK Set verifiers accept during a rotation
(the current signer plus the kept keys, each kid once, less the dropped)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.integration.kms_helpers import KMS
from wikibot_auth.adapters.key_files import (
    generate_private_key,
    jwk_set,
    thumbprint,
    write_private_key,
)
from wikibot_auth.entrypoints.cli import main
from wikibot_auth.entrypoints.cli_keys import with_kids_attached

pytestmark = pytest.mark.usefixtures("clean_cli_env")


def publish(capsys, *argv: str) -> tuple[int, list[str], str]:
    code = main(["keys", "publish", *argv])
    out, err = capsys.readouterr()
    kids = [key["kid"] for key in json.loads(out)["keys"]] if code == 0 else []
    return code, kids, out + err


def private_pem(tmp_path: Path, name: str, key: rsa.RSAPrivateKey) -> str:
    path = tmp_path / name
    write_private_key(path, key)
    return str(path)


def public_pem(tmp_path: Path, name: str, *keys: rsa.RSAPrivateKey) -> str:
    path = tmp_path / name
    path.write_bytes(
        b"".join(
            key.public_key().public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
            for key in keys
        )
    )
    return str(path)


def jwks_file(tmp_path: Path, name: str, *keys: rsa.RSAPrivateKey) -> str:
    path = tmp_path / name
    path.write_text(
        json.dumps(jwk_set({thumbprint(k.public_key()): k.public_key() for k in keys}))
    )
    return str(path)


def kid(key: rsa.RSAPrivateKey) -> str:
    return thumbprint(key.public_key())


def test_publishing_the_signer_alone_prints_its_public_jwk_only(
    tmp_path, capsys, private_key
):
    code = main(
        ["keys", "publish", "--key", private_pem(tmp_path, "k.pem", private_key)]
    )
    out = capsys.readouterr().out
    (jwk,) = json.loads(out)["keys"]
    assert code == 0
    assert (jwk["kid"], jwk["alg"], jwk["use"]) == (kid(private_key), "RS256", "sig")
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
    assert "PRIVATE" not in out


def test_kept_keys_follow_the_signer_once_each(
    tmp_path, capsys, private_key, other_key
):
    third = generate_private_key()
    code, kids, _ = publish(
        capsys,
        "--key",
        public_pem(tmp_path, "new.pem", private_key),
        "--keep",
        jwks_file(tmp_path, "old.json", other_key, private_key),
        "--keep",
        public_pem(tmp_path, "older.pem", third, other_key),
    )
    assert (code, kids) == (0, [kid(private_key), kid(other_key), kid(third)])


def test_drop_retires_a_kept_key(tmp_path, capsys, private_key, other_key):
    kept = jwks_file(tmp_path, "published.json", private_key, other_key)
    signer = private_pem(tmp_path, "k.pem", private_key)
    code, kids, _ = publish(
        capsys, "--key", signer, "--keep", kept, "--drop", kid(other_key)
    )
    assert (code, kids) == (0, [kid(private_key)])


def test_a_kid_that_begins_with_a_dash_is_taken_as_the_value_of_drop(
    tmp_path, capsys, private_key, other_key
):
    # One thumbprint in 64 begins with "-": argparse alone refused
    # "--drop -AbC..." ("expected one argument").
    dash_kid = "-" + kid(other_key)[1:]
    code, _, text = publish(
        capsys,
        "--key",
        private_pem(tmp_path, "k.pem", private_key),
        "--keep",
        jwks_file(tmp_path, "published.json", other_key),
        "--drop",
        dash_kid,
    )
    assert code == 2
    assert f"--drop {dash_kid} names none of the kept keys" in text


def test_only_a_thumbprint_is_attached_to_drop():
    thumb = "-" + "A" * 42
    assert with_kids_attached(["keys", "publish", "--drop", thumb, "--drop", "x"]) == [
        "keys",
        "publish",
        f"--drop={thumb}",
        "--drop",
        "x",
    ]
    # a missing value stays an argparse error, never a kid named "--keep"
    assert with_kids_attached(["--drop", "--keep", "f"]) == ["--drop", "--keep", "f"]


@pytest.mark.parametrize("which", ["current", "unknown"])
def test_dropping_the_signer_or_an_unknown_kid_is_a_usage_error(
    tmp_path, capsys, private_key, other_key, which
):
    kept = jwks_file(tmp_path, "published.json", other_key)
    dropped = kid(private_key) if which == "current" else "no-such-kid"
    code, _, text = publish(
        capsys,
        "--key",
        private_pem(tmp_path, "k.pem", private_key),
        "--keep",
        kept,
        "--drop",
        dropped,
    )
    assert code == 2
    assert dropped in text


@pytest.mark.parametrize(
    "argv",
    [
        [],  # no signer
        ["--key", "a.pem", "--kms-key-id", "alias/x"],  # two signers
        ["--kms-key-id", " "],
    ],
)
def test_exactly_one_signer_is_needed(capsys, argv):
    assert publish(capsys, *argv)[0] == 2


def test_a_bundle_is_not_a_signer(tmp_path, capsys, private_key, other_key):
    code, _, text = publish(
        capsys, "--key", public_pem(tmp_path, "both.pem", private_key, other_key)
    )
    assert code == 2
    assert "--keep" in text


def test_publishing_a_kms_key_asks_only_for_its_public_key(capsys, kms: KMS):
    arn = kms.create_key()
    code, kids, _ = publish(capsys, "--kms-key-id", arn)
    assert (code, kids) == (0, [thumbprint(kms.public_key(arn))])


def test_an_unknown_kms_key_is_a_configuration_error(capsys, kms: KMS):
    code, _, text = publish(capsys, "--kms-key-id", "alias/none-such")
    assert code == 2
    assert "NotFoundException" in text
