"""Hostile tokens from RFC 8725 and known JWT library CVEs.

Each is rejected with the right code through the use case (``authenticate``)
and through ``wikibot-auth token verify -``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from tests.conftest import workos_profile
from wikibot_auth.adapters.key_files import generate_private_key, public_jwk, thumbprint
from wikibot_auth.domain.errors import AuthError
from wikibot_auth.entrypoints.cli import main

ATTACKER = generate_private_key()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: object) -> str:
    return b64(json.dumps(obj).encode())


def unsigned(header: dict, payload: dict, signature: str = "") -> str:
    return f"{segment(header)}.{segment(payload)}.{signature}"


def hs256(header: dict, payload: dict, secret: bytes) -> str:
    signing_input = f"{segment(header)}.{segment(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def rs256(header: dict, payload: dict, key) -> str:
    # Signed by hand: PyJWT itself refuses to encode some hostile values.
    signing_input = f"{segment({'alg': 'RS256', **header})}.{segment(payload)}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


class Ctx:
    def __init__(self, private_key, user_id: str, valid: str, now: int) -> None:
        self.key = private_key
        self.kid = thumbprint(private_key.public_key())
        self.user_id = user_id
        self.valid = valid
        self.now = now

    def claims(self, **changes) -> dict:
        base = {
            "iss": "wikibot.io",
            "aud": "wikibot.io",
            "sub": self.user_id,
            "iat": self.now,
            "exp": self.now + 3600,
            "jti": "j1",
        }
        base.update(changes)
        return {k: v for k, v in base.items() if v is not None}

    def signed(self, headers: dict | None = None, **changes) -> str:
        return rs256(
            {"kid": self.kid, **(headers or {})}, self.claims(**changes), self.key
        )

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_der(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _noncanonical(token: str) -> str:
    head, sig = token.rsplit(".", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(sig[-1])
    # RSA-2048 signatures leave 4 unused bits in the last character.
    return f"{head}.{sig[:-1]}{alphabet[last ^ 1]}"


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


HOSTILE: dict[str, tuple[Callable[[Ctx], str], str]] = {
    **{
        f"alg {alg} unsigned": (
            lambda c, alg=alg: unsigned({"alg": alg, "kid": c.kid}, c.claims()),
            "invalid_token",
        )
        for alg in ("none", "None", "NONE", "nOnE")
    },
    **{
        f"alg {alg} with signature": (
            lambda c, alg=alg: unsigned(
                {"alg": alg, "kid": c.kid}, c.claims(), c.valid.rsplit(".", 1)[1]
            ),
            "invalid_token",
        )
        for alg in ("none", "NONE")
    },
    "HS256 with public key PEM": (
        lambda c: hs256({"alg": "HS256", "kid": c.kid}, c.claims(), c.public_pem()),
        "invalid_token",
    ),
    "HS256 with public key DER": (
        lambda c: hs256({"alg": "HS256", "kid": c.kid}, c.claims(), c.public_der()),
        "invalid_token",
    ),
    "HS256 with public key JWK": (
        lambda c: hs256(
            {"alg": "HS256", "kid": c.kid},
            c.claims(),
            json.dumps(public_jwk(c.key.public_key())).encode(),
        ),
        "invalid_token",
    ),
    "embedded jwk of the attacker": (
        lambda c: rs256(
            {
                "kid": thumbprint(ATTACKER.public_key()),
                "jwk": public_jwk(ATTACKER.public_key()),
            },
            c.claims(),
            ATTACKER,
        ),
        "invalid_token",
    ),
    "embedded jwk with our kid": (
        lambda c: rs256(
            {"kid": c.kid, "jwk": public_jwk(ATTACKER.public_key())},
            c.claims(),
            ATTACKER,
        ),
        "invalid_token",
    ),
    "jku header": (
        lambda c: c.signed({"jku": "https://evil.example/jwks"}),
        "invalid_token",
    ),
    "x5u header": (
        lambda c: c.signed({"x5u": "https://evil.example/cert"}),
        "invalid_token",
    ),
    "x5c header": (lambda c: c.signed({"x5c": ["MIIB"]}), "invalid_token"),
    "crit header": (lambda c: c.signed({"crit": ["exp"]}), "invalid_token"),
    "no kid": (
        lambda c: rs256({}, c.claims(), c.key),
        "invalid_token",
    ),
    "kid not a string": (lambda c: c.signed({"kid": 7}), "invalid_token"),
    "unknown kid": (
        lambda c: rs256(
            {"kid": thumbprint(ATTACKER.public_key())}, c.claims(), ATTACKER
        ),
        "invalid_token",
    ),
    "attacker key with our kid": (
        lambda c: rs256({"kid": c.kid}, c.claims(), ATTACKER),
        "invalid_token",
    ),
    "non-canonical base64url signature": (
        lambda c: _noncanonical(c.valid),
        "invalid_token",
    ),
    "header nested 1000 deep": (
        lambda c: (
            b64(
                (
                    '{"alg":"RS256","kid":"' + c.kid + '","x":' + _nested(1000) + "}"
                ).encode()
            )
            + "."
            + c.valid.split(".")[1]
            + "."
            + c.valid.split(".")[2]
        ),
        "invalid_token",
    ),
    "exp as a string": (lambda c: c.signed(exp=str(c.now + 3600)), "invalid_token"),
    "exp as Infinity": (lambda c: c.signed(exp=float("inf")), "invalid_token"),
    "exp as NaN": (lambda c: c.signed(exp=float("nan")), "invalid_token"),
    "exp as a bool": (lambda c: c.signed(exp=True), "invalid_token"),
    "exp as a list": (lambda c: c.signed(exp=[c.now + 3600]), "invalid_token"),
    "exp huge": (lambda c: c.signed(exp=10**400), "invalid_token"),
    "iat as a string": (lambda c: c.signed(iat=str(c.now)), "invalid_token"),
    "nbf in the future": (lambda c: c.signed(nbf=c.now + 3600), "invalid_token"),
    "lifetime above the maximum": (
        lambda c: c.signed(exp=c.now + 86400 * 2),
        "invalid_token",
    ),
    "no exp": (lambda c: c.signed(exp=None), "invalid_token"),
    "no iat": (lambda c: c.signed(iat=None), "invalid_token"),
    "no jti": (lambda c: c.signed(jti=None), "invalid_token"),
    "empty sub": (lambda c: c.signed(sub=""), "invalid_token"),
    "sub not a string": (lambda c: c.signed(sub=123), "invalid_token"),
    "iss prefix": (lambda c: c.signed(iss="wikibot.i"), "invalid_token"),
    "iss suffix": (lambda c: c.signed(iss="wikibot.io.evil.example"), "invalid_token"),
    "iss upper case": (lambda c: c.signed(iss="WIKIBOT.IO"), "invalid_token"),
    "iss mixed case": (lambda c: c.signed(iss="Wikibot.io"), "invalid_token"),
    "iss as a list": (lambda c: c.signed(iss=["wikibot.io"]), "invalid_token"),
    "aud case variant": (lambda c: c.signed(aud="Wikibot.io"), "invalid_token"),
    "aud other": (lambda c: c.signed(aud="other.example"), "invalid_token"),
    "expired": (
        lambda c: c.signed(iat=c.now - 7200, exp=c.now - 3600),
        "token_expired",
    ),
    "payload not an object": (
        lambda c: (
            rs256({"kid": c.kid}, c.claims(), c.key).split(".")[0]
            + "."
            + b64(b"[1,2]")
            + "."
            + c.valid.split(".")[2]
        ),
        "invalid_token",
    ),
    "two dots only": (lambda c: "..", "invalid_token"),
    "padded signature": (lambda c: c.valid + "==", "invalid_token"),
    "padded signature, one": (lambda c: c.valid + "=", "invalid_token"),
    "padded payload": (
        lambda c: (
            c.valid.split(".")[0]
            + "."
            + c.valid.split(".")[1]
            + "=."
            + c.valid.split(".")[2]
        ),
        "invalid_token",
    ),
    "four segments": (lambda c: c.valid + ".x", "invalid_token"),
}


@pytest.fixture
def ctx(login, private_key, clock) -> Ctx:
    result = login(workos_profile())
    return Ctx(private_key, result.user.user_id, result.token, int(clock.now()))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_token_is_rejected_by_authenticate(ctx, authenticate, name):
    make, code = HOSTILE[name]
    token = make(ctx)
    with pytest.raises(AuthError) as info:
        authenticate("Bearer " + token)
    # RFC 6750's b64token allows "=" only at the end: otherwise the header is bad.
    b64token = re.fullmatch(r"[A-Za-z0-9\-._~+/]+=*", token)
    assert info.value.code == (code if b64token else "invalid_request")


def test_one_megabyte_token_is_rejected(ctx, authenticate, signer):
    from wikibot_auth.domain.errors import InvalidRequest, InvalidToken

    huge = "a" * (1 << 20)
    with pytest.raises(InvalidRequest):
        authenticate("Bearer " + huge)
    with pytest.raises(InvalidToken):
        signer.validate_token(huge)


def test_the_valid_token_of_the_suite_is_accepted(ctx, authenticate):
    assert authenticate("Bearer " + ctx.valid).user_id == ctx.user_id


@pytest.fixture
def cli_verify(key_file, monkeypatch, capsys):
    def run(token: str) -> tuple[int, str, str]:
        stdin = io.TextIOWrapper(io.BytesIO((token + "\n").encode("utf-8", "replace")))
        monkeypatch.setattr("sys.stdin", stdin)
        code = main(["token", "verify", "--key", str(key_file), "-"])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_token_is_rejected_by_token_verify(private_key, cli_verify, name):
    import time

    make, code = HOSTILE[name]
    ctx = Ctx(private_key, "usr_cli", "", int(time.time()))
    ctx.valid = ctx.signed()
    exit_code, out, err = cli_verify(make(ctx))
    assert (exit_code, out) == (1, "")
    assert err.strip() == f"error: {code}"


def test_one_megabyte_token_is_rejected_by_token_verify(cli_verify):
    assert cli_verify("a" * (1 << 20))[2].strip() == "error: invalid_token"
