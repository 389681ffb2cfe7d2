"""The command line through ``main([...])`` (and once as a real process)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from wikibot_auth.entrypoints.cli import main

pytestmark = pytest.mark.usefixtures("clean_cli_env")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_keygen_writes_a_0600_pem_and_prints_the_kid(tmp_path, capsys):
    path = tmp_path / "k.pem"
    code, out, _ = run(capsys, "keygen", "--out", str(path))
    assert code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "PRIVATE KEY" in path.read_text()
    _, jwks, _ = run(capsys, "jwks", "--key", str(path))
    assert json.loads(jwks)["keys"][0]["kid"] == out.strip()


def test_keygen_refuses_to_overwrite_without_force(tmp_path, capsys):
    path = tmp_path / "k.pem"
    path.write_text("keep me")
    code, _, err = run(capsys, "keygen", "--out", str(path))
    assert (code, path.read_text()) == (2, "keep me")
    assert "--force" in err
    assert run(capsys, "keygen", "--out", str(path), "--force")[0] == 0
    assert "PRIVATE KEY" in path.read_text()


def test_keygen_bits(tmp_path, capsys):
    from wikibot_auth.adapters.key_files import load_private_key

    path = tmp_path / "k.pem"
    assert run(capsys, "keygen", "--out", str(path), "--bits", "3072")[0] == 0
    assert load_private_key(path.read_text()).key_size == 3072
    assert run(capsys, "keygen", "--out", str(path), "--bits", "1024")[0] == 2


def test_mint_then_verify_round_trips(key_file, capsys):
    code, token, _ = run(
        capsys, "token", "mint", "--key", str(key_file), "--sub", "usr_9"
    )
    assert code == 0
    code, out, err = run(
        capsys, "token", "verify", "--key", str(key_file), token.strip()
    )
    assert (code, err) == (0, "")
    claims = json.loads(out)
    assert (claims["sub"], claims["iss"], claims["aud"]) == (
        "usr_9",
        "wikibot.io",
        "wikibot.io",
    )
    assert claims["exp"] - claims["iat"] == 86400
    assert claims["gen"] == 0


@pytest.mark.parametrize("gen", ["1", "9007199254740991"])
def test_mint_a_given_generation(key_file, capsys, gen):
    code, token, _ = run(
        capsys, "token", "mint", "--key", str(key_file), "--sub", "u", "--gen", gen
    )
    assert code == 0
    _, out, _ = run(capsys, "token", "verify", "--key", str(key_file), token.strip())
    assert json.loads(out)["gen"] == int(gen)


@pytest.mark.parametrize("gen", ["-1", "9007199254740992", "x"])
def test_a_generation_out_of_range_is_a_usage_error(key_file, capsys, gen):
    code, out, err = run(
        capsys, "token", "mint", "--key", str(key_file), "--sub", "u", "--gen", gen
    )
    assert (code, out) == (2, "")
    assert "--gen" in err


def test_mint_ttl_and_verify_with_the_public_key(
    key_file, tmp_path, capsys, private_key
):
    from cryptography.hazmat.primitives import serialization

    public = tmp_path / "pub.pem"
    public.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    _, token, _ = run(
        capsys, "token", "mint", "--key", str(key_file), "--sub", "u", "--ttl", "60"
    )
    code, out, _ = run(capsys, "token", "verify", "--key", str(public), token.strip())
    claims = json.loads(out)
    assert (code, claims["exp"] - claims["iat"]) == (0, 60)
    assert run(capsys, "token", "mint", "--key", str(public), "--sub", "u")[0] == 2


@pytest.mark.parametrize("sub", ["", " ", "\t", " \n "])
def test_a_blank_subject_is_a_usage_error(sub, key_file, capsys):
    code, out, err = run(capsys, "token", "mint", "--key", str(key_file), "--sub", sub)
    assert (code, out) == (2, "")
    assert err.startswith("error: --sub ")
    assert "internal_error" not in err


@pytest.mark.parametrize("ttl", ["999999", "86401", "0", "-5"])
def test_a_ttl_out_of_range_names_the_flag_and_the_range(ttl, key_file, capsys):
    code, out, err = run(
        capsys, "token", "mint", "--key", str(key_file), "--sub", "u", "--ttl", ttl
    )
    assert (code, out) == (2, "")
    assert err.startswith("error: --ttl ")
    assert "between 1 and 86400" in err
    assert "WIKIBOT_AUTH_MAX_TOKEN_TTL" in err  # where the maximum comes from
    assert "WIKIBOT_AUTH_TOKEN_TTL" not in err  # the user never set it


def test_the_ttl_range_follows_the_configured_maximum(key_file, capsys, monkeypatch):
    monkeypatch.setenv("WIKIBOT_AUTH_MAX_TOKEN_TTL", "100000")
    mint = ("token", "mint", "--key", str(key_file), "--sub", "u", "--ttl")
    assert run(capsys, *mint, "100000")[0] == 0
    code, _, err = run(capsys, *mint, "100001")
    assert (code, "between 1 and 100000" in err) == (2, True)


@pytest.mark.parametrize("form", ["jwks", "public pem"])
def test_minting_with_public_keys_only_says_so(form, key_file, tmp_path, capsys):
    public = tmp_path / "public-keys"
    if form == "jwks":
        public.write_text(run(capsys, "jwks", "--key", str(key_file))[1])
    else:
        from cryptography.hazmat.primitives import serialization

        from wikibot_auth.adapters.key_files import load_private_key

        key = load_private_key(key_file.read_text()).public_key()
        public.write_bytes(
            key.public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
        )
    code, out, err = run(capsys, "token", "mint", "--key", str(public), "--sub", "u")
    assert (code, out) == (2, "")
    assert "only public keys" in err
    assert str(public) in err
    assert "no signing key is configured" not in err


def test_keygen_refuses_a_missing_directory_and_names_it(tmp_path, capsys):
    missing = tmp_path / "new-dir"
    code, out, err = run(capsys, "keygen", "--out", str(missing / "x.pem"))
    assert (code, out) == (2, "")
    assert f"directory {missing} does not exist" in err
    assert not missing.exists()


def test_issuer_and_audience_flags_override_the_environment(
    key_file, capsys, monkeypatch
):
    monkeypatch.setenv("WIKIBOT_AUTH_ISSUER", "env-issuer")
    _, token, _ = run(capsys, "token", "mint", "--key", str(key_file), "--sub", "u")
    assert run(capsys, "token", "verify", "--key", str(key_file), token.strip())[0] == 0
    code, _, err = run(
        capsys,
        "token",
        "verify",
        "--key",
        str(key_file),
        "--issuer",
        "wikibot.io",
        token.strip(),
    )
    assert (code, err.strip()) == (1, "error: invalid_token")
    _, token2, _ = run(
        capsys,
        "token",
        "mint",
        "--key",
        str(key_file),
        "--sub",
        "u",
        "--audience",
        "api",
    )
    assert (
        run(capsys, "token", "verify", "--key", str(key_file), token2.strip())[0] == 1
    )
    assert (
        run(
            capsys,
            "token",
            "verify",
            "--key",
            str(key_file),
            "--audience",
            "api",
            token2.strip(),
        )[0]
        == 0
    )


def test_bad_token_exits_1_with_the_code(key_file, capsys):
    code, out, err = run(capsys, "token", "verify", "--key", str(key_file), "nonsense")
    assert (code, out, err) == (1, "", "error: invalid_token\n")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["token"],
        ["token", "mint", "--sub", "u"],
        ["frobnicate"],
        ["token", "verify", "--key", "/nonexistent/key.pem", "abc"],
        ["token", "verify", "--leeway", "999", "--key", "KEY", "abc"],
    ],
)
def test_usage_and_configuration_errors_exit_2(argv, key_file, capsys):
    argv = [str(key_file) if a == "KEY" else a for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "Traceback" not in err


def test_help_exits_0(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "keygen" in out


def test_unreadable_key_file_does_not_print_its_content(tmp_path, capsys):
    path = tmp_path / "bad.pem"
    path.write_text(
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LW1hdGVyaWFs\n-----END PRIVATE KEY-----\n"
    )
    code, _, err = run(capsys, "token", "mint", "--key", str(path), "--sub", "u")
    assert code == 2
    assert "c2VjcmV0" not in err


def test_unrecognized_arguments_are_not_echoed(key_file, capsys):
    code, _, err = run(
        capsys, "token", "verify", "--key", str(key_file), "eyJsecret", "eyJmore"
    )
    assert code == 2
    assert "eyJ" not in err


def test_workos_settings_do_not_block_token_commands(key_file, capsys, monkeypatch):
    monkeypatch.setenv("WORKOS_API_KEY", "sk_test_only_key")
    _, token, _ = run(capsys, "token", "mint", "--key", str(key_file), "--sub", "u")
    assert run(capsys, "token", "verify", "--key", str(key_file), token.strip())[0] == 0


def _script():
    return os.path.join(os.path.dirname(sys.executable), "wikibot-auth")


@pytest.mark.parametrize(
    "case",
    ["der key", "unwritable keygen", "binary stdin", "directory as key"],
)
def test_failures_in_a_real_process_print_no_traceback(
    case, tmp_path, key_file, private_key
):
    from cryptography.hazmat.primitives import serialization

    der = tmp_path / "key.der"
    der.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    argv, stdin, expected = {
        "der key": (["token", "mint", "--key", str(der), "--sub", "u"], b"", 2),
        "unwritable keygen": (["keygen", "--out", "/proc/nope/k.pem"], b"", 2),
        "binary stdin": (
            ["token", "verify", "--key", str(key_file), "-"],
            b"\xff\xfe\x00",
            1,
        ),
        "directory as key": (["jwks", "--key", str(tmp_path)], b"", 2),
    }[case]
    proc = subprocess.run(
        [_script(), *argv], input=stdin, capture_output=True, check=False
    )
    assert proc.returncode == expected
    assert b"Traceback" not in proc.stderr
    assert proc.stderr.startswith(b"error: ")


def test_console_script_runs_as_a_process(key_file):
    script = os.path.join(os.path.dirname(sys.executable), "wikibot-auth")
    mint = subprocess.run(
        [script, "token", "mint", "--key", str(key_file), "--sub", "usr_p"],
        capture_output=True,
        text=True,
        check=True,
    )
    verify = subprocess.run(
        [script, "token", "verify", "--key", str(key_file), "-"],
        input=mint.stdout,
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0
    assert json.loads(verify.stdout)["sub"] == "usr_p"
    broken = subprocess.run(
        [script, "token", "verify", "--key", str(key_file), "-"],
        input="x.y.z",
        capture_output=True,
        text=True,
    )
    assert (broken.returncode, broken.stderr) == (1, "error: invalid_token\n")
