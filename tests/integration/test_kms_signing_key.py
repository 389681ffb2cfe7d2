"""The KMS signing key on moto, in-process and over HTTP to moto's server:
tokens signed by KMS verify like the file signer's, the key is pinned by ARN
once per process, and every KMS fault is a domain error."""

from __future__ import annotations

import base64
import logging

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests.integration.kms_helpers import KMS, Operations, moto_private_key
from wikibot_auth.adapters.key_files import generate_private_key, thumbprint
from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.kms_signing_key import KMSSigningKey
from wikibot_auth.adapters.memory import FixedClock
from wikibot_auth.adapters.rs256 import RS256TokenSigner
from wikibot_auth.domain.errors import InvalidToken, NotConfigured
from wikibot_auth.entrypoints.containers import Container, create_container
from wikibot_auth.entrypoints.login_state import HKDF_INFO

LABEL = HKDF_INFO


def kms_container(key_id: str, **extra: str) -> Container:
    return create_container(
        {
            "WIKIBOT_AUTH_KMS_KEY_ID": key_id,
            "WIKIBOT_AUTH_USER_STORE": "memory://",
            **extra,
        },
        runtime="cli",
    )


def test_a_token_signed_by_kms_verifies_under_the_keys_thumbprint(kms: KMS):
    arn = kms.create_key()
    signer = kms_container(arn).token_signer()
    claims = signer.validate_token(signer.create_token("usr_ada"))
    assert claims.sub == "usr_ada"
    assert claims.kid == thumbprint(kms.public_key(arn))
    assert signer.jwks()["keys"][0]["kid"] == claims.kid


def test_with_a_fixed_clock_and_jti_the_kms_token_is_the_file_signers(
    kms_in_process: KMS,
):
    """Same key, same clock, same jti: header, payload and (PKCS#1 v1.5 is
    deterministic) the signature are byte for byte the file signer's."""
    arn = kms_in_process.create_key()
    client = kms_container(arn).kms_client()
    backend = KMSSigningKey.resolve(client, arn, secret_label=LABEL)
    clock = FixedClock(1_700_000_000)

    def signer(ring: KeyRing) -> RS256TokenSigner:
        return RS256TokenSigner(ring, clock, new_jti=lambda: "jti-fixed")

    by_kms = signer(KeyRing.build(backend)).create_token("usr_ada", generation=3)
    by_file = signer(KeyRing.of_private_key(moto_private_key(arn))).create_token(
        "usr_ada", generation=3
    )
    assert jwt.get_unverified_header(by_kms) == jwt.get_unverified_header(by_file)
    assert by_kms == by_file


def test_the_key_is_resolved_once_and_every_signature_names_its_arn(kms: KMS):
    arn = kms.create_key()
    kms.point_alias("alias/resolved-once", arn)
    container = kms_container("alias/resolved-once")
    sent = Operations(container.kms_client())
    signer = container.token_signer()
    for _ in range(3):
        signer.create_token("usr_ada")
    assert sent.attempts == {"GetPublicKey": 1, "Sign": 3}
    signs = [params for name, params in sent.calls if name == "Sign"]
    resolved = container.kms_signing_key().key_arn
    assert resolved in (arn, arn.rsplit("/", 1)[1])  # moto answers the bare id
    assert {p["KeyId"] for p in signs} == {resolved}
    assert {(p["MessageType"], p["SigningAlgorithm"]) for p in signs} == {
        ("RAW", "RSASSA_PKCS1_V1_5_SHA_256")
    }


def test_an_alias_moved_while_the_process_runs_never_signs_under_the_old_kid(
    kms: KMS,
):
    old, new = kms.create_key(), kms.create_key()
    kms.point_alias("alias/moving", old)
    running = kms_container("alias/moving").token_signer()
    before = running.create_token("usr_ada")
    kms.point_alias("alias/moving", new)
    after = running.create_token("usr_ada")
    old_kid = thumbprint(kms.public_key(old))
    assert jwt.get_unverified_header(after)["kid"] == old_kid
    for token in (before, after):  # signed by the old key, as its kid says
        jwt.decode(
            token, kms.public_key(old), algorithms=["RS256"], audience="wikibot.io"
        )
    restarted = kms_container("alias/moving").token_signer()
    fresh = restarted.create_token("usr_ada")
    assert jwt.get_unverified_header(fresh)["kid"] == thumbprint(kms.public_key(new))


@pytest.mark.parametrize(
    ("spec", "usage", "words"),
    [
        ("ECC_NIST_P256", "SIGN_VERIFY", "RSA"),
        ("RSA_2048", "ENCRYPT_DECRYPT", "SIGN_VERIFY"),
    ],
)
def test_a_key_that_cannot_sign_rs256_is_not_configured(
    kms: KMS, spec: str, usage: str, words: str, caplog: pytest.LogCaptureFixture
):
    arn = kms.create_key(spec, usage)
    with pytest.raises(NotConfigured, match=words):
        kms_container(arn).token_signer()
    assert any(
        r.levelno == logging.ERROR and words in r.getMessage() for r in caplog.records
    )


def test_a_larger_rsa_key_signs_too(kms: KMS):
    arn = kms.create_key("RSA_4096")
    signer = kms_container(arn).token_signer()
    assert signer.validate_token(signer.create_token("usr_ada")).sub == "usr_ada"


def test_a_token_forged_with_another_key_under_the_kms_kid_is_rejected(kms: KMS):
    arn = kms.create_key()
    signer = kms_container(arn).token_signer()
    genuine = jwt.decode(
        signer.create_token("usr_ada"),
        options={"verify_signature": False},
    )
    forged = jwt.encode(
        {**genuine, "sub": "usr_mallory"},
        generate_private_key(),
        algorithm="RS256",
        headers={"kid": thumbprint(kms.public_key(arn))},
    )
    with pytest.raises(InvalidToken):
        signer.validate_token(forged)


def test_signing_inputs_over_4096_bytes_are_refused_without_a_call(kms: KMS):
    arn = kms.create_key()
    container = kms_container(arn)
    backend = container.kms_signing_key()
    sent = Operations(container.kms_client())
    with pytest.raises(ValueError, match="4096"):
        backend.sign(b"x" * 4097)
    assert sent.attempts["Sign"] == 0
    signature = backend.sign(b"x" * 4096)
    backend.public_key.verify(
        signature, b"x" * 4096, padding.PKCS1v15(), hashes.SHA256()
    )


def test_the_login_cookie_key_is_one_kms_signature_per_process_never_logged(
    kms: KMS, caplog: pytest.LogCaptureFixture
):
    """Two processes holding the key derive the same cookie key (the signature
    is deterministic); each asks KMS once; the signature is never logged."""
    caplog.set_level(logging.DEBUG)
    arn = kms.create_key()
    first, second = kms_container(arn), kms_container(arn)
    sent = Operations(first.kms_client())
    keys = set()
    for container in (first, second, first):
        codec = container.login_state()
        keys.add(codec.key)
        codec.loads(codec.dumps("state", "verifier", "/", provider="workos"))
    assert len(keys) == 1
    assert sent.attempts == {"GetPublicKey": 1, "Sign": 1}
    token = first.token_signer().create_token("usr_ada")
    signature = base64.urlsafe_b64decode(token.rpartition(".")[2] + "==")
    secret = first.kms_signing_key().secret_material()
    assert "KMS Sign" in caplog.text  # botocore's DEBUG records, redacted
    for material in (secret, signature):
        for shown in (material.hex(), base64.b64encode(material).decode()[:40]):
            assert shown not in caplog.text
    assert secret not in repr(first.kms_signing_key()).encode()


def test_the_secret_label_can_never_be_a_token_signing_input(kms: KMS):
    arn = kms.create_key()
    client = kms_container(arn).kms_client()
    with pytest.raises(ValueError, match="signing input"):
        KMSSigningKey.resolve(client, arn, secret_label=b"eyJhbGciOi.eyJzdWIi")
