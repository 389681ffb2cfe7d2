"""KMS signing on moto's server, beside a local RSA sign; the authorizer's
cold-start cost of asking KMS for the public key.

    .venv/bin/python -m benchmarks kms

moto's server (``.moto-venv``, the Makefile's rule) runs on 127.0.0.1: these
figures are our side of a KMS call over loopback HTTP (botocore building,
signing with SigV4 and parsing the request, plus moto's own RSA sign), NOT
AWS latency. In AWS, add one in-region round trip per call.

- signing: one RS256 signature of a token's signing input, with the key
  loaded in this process, and through ``KMSSigningKey.sign`` (KMS ``Sign``);
  then ``create_token`` with each backend.
- authorizer cold start: fresh processes of ``.bench-venv`` (runtime
  dependencies only, as bench_lambda_cold builds it) configured as the deployed
  authorizer (DynamoDB store, whose client is built first, untimed) build the
  verify-only key ring from a public keys file, or from KMS alone: the KMS
  client (from the same boto3 session; botocore loads the KMS service model)
  and one ``GetPublicKey``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from benchmarks.harness import Bench
from wikibot_auth.adapters.key_files import generate_private_key, jwk_set, thumbprint
from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.kms_signing_key import KMSSigningKey
from wikibot_auth.adapters.rs256 import RS256TokenSigner
from wikibot_auth.adapters.system_clock import SystemClock

RUNS = 15
AWS = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_EC2_METADATA_DISABLED": "true",
}
NOTE = "(moto's server on loopback: our side of the call, not AWS latency)"

COLD = """\
import json, sys, time
from wikibot_auth.entrypoints.containers import create_container
container = create_container(runtime="lambda", verify_only=True)
container.dynamodb_client()  # the deployed authorizer's store client, first
marks = {}
started = time.perf_counter()
if sys.argv[1] == "kms":
    container.kms_client()
    marks["client"] = (time.perf_counter() - started) * 1000
ring = container.key_ring()
marks["key_ring"] = (time.perf_counter() - started) * 1000
assert ring.signer is None
print(json.dumps(marks))
"""


def run_signing(endpoint: str) -> tuple[str, str]:
    """The signing table; returns the KMS key's ARN and a public keys file."""
    import boto3

    from wikibot_auth.adapters.aws_clients import make_aws_client

    os.environ.update(AWS, AWS_ENDPOINT_URL_KMS=endpoint)
    setup = boto3.client("kms")
    arn = setup.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"][
        "Arn"
    ]
    backend = KMSSigningKey.resolve(
        make_aws_client("kms", purpose="bench"), arn, secret_label=b"bench label"
    )
    local = generate_private_key()
    by_file = RS256TokenSigner(KeyRing.of_private_key(local), SystemClock())
    by_kms = RS256TokenSigner(KeyRing.build(backend), SystemClock())
    signing_input = by_file.create_token("usr_bench").rpartition(".")[0].encode()

    bench = Bench(
        f"signing one RS256 token {NOTE}",
        floor="local RSA-2048 sign (loaded key)",
        rounds=15,
        target_seconds=0.05,
    )
    bench.add(
        bench.floor,
        lambda: local.sign(signing_input, padding.PKCS1v15(), hashes.SHA256()),
    )
    bench.add("KMS Sign on moto's server", lambda: backend.sign(signing_input))
    bench.add("ours: create_token, file key", lambda: by_file.create_token("usr_b"))
    bench.add(
        "ours: create_token, KMS on moto's server",
        lambda: by_kms.create_token("usr_b"),
    )
    bench.run()
    print(bench.table())
    floor, kms = bench.median(bench.floor), bench.median("KMS Sign on moto's server")
    print(
        f"  per core: local {1e6 / floor:,.0f} signatures/s; through KMS on moto "
        f"{1e6 / kms:,.0f}/s. AWS KMS adds its network round trip and its "
        "request quota for RSA Sign (shared per account and Region)."
    )
    public = Path(tempfile.mkdtemp()) / "public-keys.json"
    public.write_text(
        json.dumps(jwk_set({thumbprint(backend.public_key): backend.public_key}))
    )
    return arn, str(public)


def run_cold_start(endpoint: str, arn: str, public_file: str) -> None:
    from benchmarks.bench_lambda_cold import runtime_venv

    python = runtime_venv()
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **AWS,
        "AWS_LAMBDA_FUNCTION_NAME": "bench-authorizer",
        "WIKIBOT_AUTH_ENV": "production",
        "WIKIBOT_AUTH_USER_STORE": "dynamodb://bench-users",
    }
    variants = {
        "public keys file": ("file", {"WIKIBOT_AUTH_PUBLIC_KEYS_FILE": public_file}),
        "KMS GetPublicKey": (
            "kms",
            {"WIKIBOT_AUTH_KMS_KEY_ID": arn, "AWS_ENDPOINT_URL_KMS": endpoint},
        ),
    }
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(RUNS):  # interleaved, as every table here
            for name, (mode, extra) in variants.items():
                done = subprocess.run(
                    [str(python), "-c", COLD, mode],
                    env={**base, **extra, "HOME": tmp},
                    cwd=tmp,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                samples[name].append(json.loads(done.stdout.splitlines()[-1]))
    print(f"\n## the authorizer's key ring at cold start ({RUNS} fresh processes each)")
    print(f"  {NOTE}")
    for name, runs in samples.items():
        ring = statistics.median(r["key_ring"] for r in runs)
        line = f"  {name:<18} {ring:7.1f} ms median"
        if "client" in runs[0]:
            client = statistics.median(r["client"] for r in runs)
            line += (
                f"  (KMS client {client:.1f} ms, GetPublicKey {ring - client:.1f} ms)"
            )
        print(line)
    print("  (both after the DynamoDB client, built first as the authorizer does)")


def run() -> None:
    from tests.integration.moto_server import run_moto_server
    from tests.integration.peer_process import PeerMissing

    try:
        server = run_moto_server()
        endpoint = server.__enter__()
    except PeerMissing as exc:
        print(f"\n(kms: moto's server is not available: {exc})")
        return
    try:
        arn, public_file = run_signing(endpoint)
        run_cold_start(endpoint, arn, public_file)
    finally:
        server.__exit__(None, None, None)


if __name__ == "__main__":
    run()
