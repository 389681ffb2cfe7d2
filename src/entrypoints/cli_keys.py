"""The command line's key verbs: ``keygen`` and ``keys publish`` (rotation).

``keys publish`` prints the JWK Set every verifier should accept: the current
signer's public key (``--key PATH`` or ``--kms-key-id ID``) plus the keys kept
from ``--keep FILE`` (PEM bundles or JWK Sets), deduplicated by ``kid``, less
those named by ``--drop KID`` (docs/operations.md, the rotation runbook).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric import rsa

from ..adapters.key_files import (
    generate_private_key,
    jwk_set,
    load_public_keys,
    read_key_text,
    thumbprint,
    write_private_key,
)
from .cli_usage import Parser, UsageError
from .wire import EXIT_OK

# An RFC 7638 SHA-256 thumbprint, as our kids are: 43 base64url characters.
_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{43}")


def with_kids_attached(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``--drop KID`` written ``--drop=KID`` where KID is a
    thumbprint: one in 64 begins with "-", which argparse would take for an
    option ("expected one argument") and the rotation runbook would stop."""
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1] == "--drop" and _THUMBPRINT.fullmatch(arg):
            joined[-1] = f"--drop={arg}"
        else:
            joined.append(arg)
    return joined


def add_key_commands(commands: Any) -> None:
    """Register ``keygen`` and ``keys publish`` on the subcommands of ``main``."""
    keygen = commands.add_parser(
        "keygen", help="generate an RSA signing key (PEM, 0600)"
    )
    keygen.add_argument(
        "--out", required=True, type=Path, help="where to write the PEM"
    )
    keygen.add_argument("--bits", type=int, choices=(2048, 3072, 4096), default=2048)
    keygen.add_argument(
        "--force", action="store_true", help="overwrite an existing file"
    )
    keygen.set_defaults(run=_keygen)

    keys = commands.add_parser("keys", help="key rotation: the keys verifiers accept")
    key_commands = keys.add_subparsers(
        dest="keys_command", required=True, parser_class=Parser
    )
    publish = key_commands.add_parser(
        "publish",
        help="print the JWK Set verifiers should accept",
        description="The current signer's public key, plus the keys kept from "
        "--keep files, deduplicated by kid, less those given with --drop.",
    )
    signer = publish.add_mutually_exclusive_group(required=True)
    signer.add_argument(
        "--key", metavar="PATH", help="the current signing key (PEM, or its public key)"
    )
    signer.add_argument(
        "--kms-key-id",
        metavar="ID",
        help="the current KMS signing key: id, ARN or alias/NAME",
    )
    publish.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="FILE",
        help="keys still accepted (a PEM bundle or a JWKS); repeatable",
    )
    publish.add_argument(
        "--drop",
        action="append",
        default=[],
        metavar="KID",
        help="a kid to retire from the kept keys; repeatable",
    )
    publish.set_defaults(run=_keys_publish)


def _keygen(args: argparse.Namespace, out: TextIO) -> int:
    path: Path = args.out
    if path.exists() and not args.force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    if not path.parent.is_dir():  # a typo should not grow a directory tree
        raise UsageError(f"the directory {path.parent} does not exist; create it first")
    key = generate_private_key(args.bits)
    try:
        write_private_key(path, key, force=args.force)
    except FileExistsError:
        raise UsageError(f"{path} exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    print(thumbprint(key.public_key()), file=out)
    return EXIT_OK


def published_keys(
    current: rsa.RSAPublicKey,
    kept: Sequence[rsa.RSAPublicKey],
    drop: Sequence[str],
) -> dict[str, rsa.RSAPublicKey]:
    """``kid -> key``: the current key first, then the kept ones in their
    order, each kid once, less ``drop``.

    Raises:
        UsageError: ``drop`` names the current key, or a kid not kept.
    """
    keys = {thumbprint(current): current}
    for key in kept:
        keys.setdefault(thumbprint(key), key)
    for kid in drop:
        if kid == thumbprint(current):
            raise UsageError(
                f"--drop {kid} is the current signing key: every new token "
                "would be rejected"
            )
        if kid not in keys:
            raise UsageError(f"--drop {kid} names none of the kept keys")
    return {kid: key for kid, key in keys.items() if kid not in drop}


def _current_key(args: argparse.Namespace) -> rsa.RSAPublicKey:
    if args.kms_key_id is not None:
        if not args.kms_key_id.strip():
            raise UsageError("--kms-key-id must not be empty")
        from .containers import create_container

        container = create_container(runtime="cli", kms_key_id=args.kms_key_id)
        return container.kms_signing_key().public_key  # GetPublicKey only
    keys = load_public_keys(read_key_text(args.key, "--key"), origin=args.key)
    if len(keys) != 1:
        raise UsageError(
            f"--key {args.key} holds {len(keys)} keys: pass the one that signs, "
            "and the others with --keep"
        )
    return keys[0]


def _keys_publish(args: argparse.Namespace, out: TextIO) -> int:
    current = _current_key(args)
    kept: list[rsa.RSAPublicKey] = []
    for path in args.keep:
        kept.extend(load_public_keys(read_key_text(path, "--keep"), origin=path))
    json.dump(jwk_set(published_keys(current, kept, args.drop)), out, indent=2)
    print(file=out)
    return EXIT_OK
