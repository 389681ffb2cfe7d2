"""Key files on disk: written whole, private, and a warning when they are not."""

from __future__ import annotations

import logging
import multiprocessing
import os
import stat
import time
from pathlib import Path

import pytest

from wikibot_auth.adapters.key_files import (
    generate_private_key,
    private_key_pem,
    read_key_text,
    write_private_key,
)
from wikibot_auth.domain.errors import NotConfigured
from wikibot_auth.entrypoints.keys import DEV_KEY_NAME, development_key, load_key_ring

pytestmark = pytest.mark.slow


def _load_dev_key(data_dir: str, start: float, results: object) -> None:
    while time.time() < start:  # all processes leave the gate together
        pass
    try:
        key = development_key(Path(data_dir) / DEV_KEY_NAME)
        results.put(private_key_pem(key).decode())  # type: ignore[attr-defined]
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")  # type: ignore[attr-defined]


def test_racing_processes_on_a_fresh_data_dir_all_read_one_whole_key(tmp_path):
    # Before: the key was written in place, and a racing process could read an
    # empty or partial file (about one start in forty) and exit 2.
    context = multiprocessing.get_context("spawn")
    for attempt in range(6):
        data_dir = tmp_path / f"data-{attempt}"
        results = context.Queue()
        start = time.time() + 1.5
        workers = [
            context.Process(target=_load_dev_key, args=(str(data_dir), start, results))
            for _ in range(4)
        ]
        for worker in workers:
            worker.start()
        seen = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        assert all(s.startswith("-----BEGIN PRIVATE KEY-----") for s in seen), seen
        assert len(set(seen)) == 1, "every process reads the one key on disk"
        assert [p.name for p in data_dir.iterdir()] == [DEV_KEY_NAME]  # no temp left


def test_the_key_appears_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "key.pem"
    seen: list[bytes] = []
    real_write = os.write

    def write_and_look(fd: int, data: bytes) -> int:
        seen.append(path.read_bytes() if path.exists() else b"<absent>")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write_and_look)
    write_private_key(path, generate_private_key())
    assert seen == [b"<absent>"]  # while the bytes are written, the name is free
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_write_refuses_an_existing_key_unless_forced(tmp_path):
    path = tmp_path / "key.pem"
    write_private_key(path, generate_private_key())
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        write_private_key(path, generate_private_key())
    assert path.read_bytes() == before
    write_private_key(path, generate_private_key(), force=True)
    assert path.read_bytes() != before
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.pem"]


def test_the_data_directory_is_created_private(tmp_path):
    data_dir = tmp_path / "fresh" / ".wikibot-auth"
    development_key(data_dir / DEV_KEY_NAME)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / DEV_KEY_NAME).stat().st_mode) == 0o600


def test_a_private_key_readable_by_others_is_used_with_a_warning(tmp_path, caplog):
    path = tmp_path / "signing.pem"
    write_private_key(path, generate_private_key())
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="wikibot_auth"):
        ring = load_key_ring(None, str(path), None, str(tmp_path), False)
    assert ring.signer is not None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0]
    assert "0644" in warnings[0]
    assert "PRIVATE KEY" not in caplog.text


def test_a_private_key_file_of_mode_0600_and_public_keys_get_no_warning(
    tmp_path, caplog
):
    private = tmp_path / "signing.pem"
    write_private_key(private, generate_private_key())
    public = tmp_path / "public.pem"
    key = generate_private_key().public_key()
    from cryptography.hazmat.primitives import serialization

    public.write_bytes(
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    public.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="wikibot_auth"):
        ring = load_key_ring(None, str(private), str(public), str(tmp_path), False)
    assert len(ring.verification_keys) == 2
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_an_unreadable_key_file_names_the_variable_not_the_content(tmp_path):
    with pytest.raises(
        NotConfigured, match="WIKIBOT_AUTH_PRIVATE_KEY_FILE: cannot read"
    ):
        read_key_text(tmp_path / "missing.pem", "WIKIBOT_AUTH_PRIVATE_KEY_FILE")


def test_a_jwks_holding_a_private_jwk_verifies_with_its_public_half(tmp_path, caplog):
    import json

    import jwt

    key = generate_private_key()
    private_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    path = tmp_path / "keys.jwks"
    path.write_text(json.dumps({"keys": [private_jwk]}))
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="wikibot_auth"):
        ring = load_key_ring(None, None, str(path), str(tmp_path), False)
    assert ring.signer is None  # a public keys file never signs
    (public,) = ring.verification_keys.values()
    assert public.public_numbers() == key.public_key().public_numbers()
    assert "readable by others" in caplog.text  # it holds private material
    assert private_jwk["d"] not in caplog.text
