"""The rotation runbook (docs/operations.md), walked with real processes (file keys, and
KMS keys behind an alias on moto's server): publish the new key to every
verifier, switch the signer, retire the old key after the maximum token
lifetime plus the leeway. At every step every running verifier accepts every
token that is still valid; after the retirement a token of the old key is
refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import jwt
import pytest

from tests.integration.kms_helpers import ALIAS, kms_of_kind
from tests.integration.moto_server import ROOT
from wikibot_auth.adapters.key_files import thumbprint
from wikibot_auth.entrypoints.cli import main

TTL = 2  # WIKIBOT_AUTH_TOKEN_TTL = WIKIBOT_AUTH_MAX_TOKEN_TTL, seconds
LEEWAY = 1
MARGIN = 0.5  # a token this close to its expiry is not asserted either way
VERIFIER: tuple[str, dict[str, str]] = ("verifier", {})

pytestmark = pytest.mark.slow


class Peer:
    """A ``key_peer`` process: a signer or a verifier, as deployed."""

    def __init__(self, role: str, environ: dict[str, str]) -> None:
        self.role = role
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.key_peer", role],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environ,
            cwd=ROOT,
        )

    def ready(self) -> Peer:
        assert self.ask(None) == "ready", self.stderr()
        return self

    def ask(self, line: str | None) -> str:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        if line is not None:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        answer = self.process.stdout.readline().strip()
        assert answer, self.stderr()
        return answer

    def stderr(self) -> str:
        if self.process.poll() is None:
            return "(running)"
        assert self.process.stderr is not None
        return self.process.stderr.read()[-2000:]

    def mint(self) -> str:
        return self.ask("mint usr_ada")

    def verify(self, token: str) -> str:
        return self.ask(f"verify {token}")

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


class Deployment:
    """The running processes (signers verify too: the login function serves
    ``/me`` and the JWKS), the published key file they start with, and every
    token minted so far."""

    def __init__(self, base: dict[str, str]) -> None:
        self.base = base
        self.published = ""
        self.peers: list[Peer] = []
        self.tokens: list[str] = []

    def start(self, *roles: tuple[str, dict[str, str]]) -> list[Peer]:
        """Start processes side by side; returns them once all are ready."""
        published = {"WIKIBOT_AUTH_PUBLIC_KEYS_FILE": self.published}
        peers = [Peer(role, {**self.base, **published, **env}) for role, env in roles]
        self.peers.extend(peers)
        return [peer.ready() for peer in peers]

    def retire(self, *peers: Peer) -> None:
        for peer in peers:
            self.peers.remove(peer)
            peer.stop()

    def check_no_valid_token_is_rejected(self, step: str) -> None:
        """Mint with every running signer, then ask every running process
        about every token minted so far: each one still valid is accepted."""
        self.tokens.extend(p.mint() for p in self.peers if p.role == "signer")
        checked = 0
        for token in self.tokens:
            exp = jwt.decode(token, options={"verify_signature": False})["exp"]
            for peer in self.peers:
                answer = peer.verify(token)
                if time.time() < exp + LEEWAY - MARGIN:
                    assert answer.startswith("ok "), (step, peer.role, answer)
                    checked += 1
        assert checked, step

    def stop(self) -> None:
        for peer in self.peers:
            peer.stop()


def publish(capsys: pytest.CaptureFixture[str], path: Path, *argv: str) -> str:
    """``keys publish ARGV > PATH``; returns PATH."""
    capsys.readouterr()
    assert main(["keys", "publish", *argv]) == 0
    path.write_text(capsys.readouterr().out)
    return str(path)


def kids(path: str) -> set[str]:
    return {key["kid"] for key in json.loads(Path(path).read_text())["keys"]}


@pytest.fixture
def environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in [n for n in os.environ if n.startswith(("WIKIBOT_", "WORKOS_"))]:
        monkeypatch.delenv(name)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("WIKIBOT_")},
        "WIKIBOT_AUTH_DATA_DIR": str(tmp_path / "data"),
        "WIKIBOT_AUTH_USER_STORE": "memory://",
        "WIKIBOT_AUTH_TOKEN_TTL": str(TTL),
        "WIKIBOT_AUTH_MAX_TOKEN_TTL": str(TTL),
        "WIKIBOT_AUTH_LEEWAY": str(LEEWAY),
    }


@pytest.fixture
def deployment(environ: dict[str, str]) -> Iterator[Deployment]:
    running = Deployment(environ)
    yield running
    running.stop()


@attrs.frozen
class Keys:
    """One rotation, as the runbook's commands see it."""

    old_kid: str
    new_kid: str
    old_signer: dict[str, str]  # a signer's environment before the switch
    new_signer: dict[str, str]  # ... and after it
    publish_new: list[str]  # keys publish: the new key, before the switch
    publish_current: Callable[[], list[str]]  # keys publish: the signing key
    retired_signer: dict[str, str]  # a process still holding the old key
    switch: Callable[[], None] = lambda: None  # e.g. move the alias


def walk_the_runbook(
    deployment: Deployment, capsys: pytest.CaptureFixture[str], tmp: Path, keys: Keys
) -> None:
    # Deployed: the old key signs; every process holds its public key.
    deployment.published = publish(capsys, tmp / "v0.json", *keys.publish_current())
    deployed = deployment.start(VERIFIER, ("signer", keys.old_signer))
    deployment.check_no_valid_token_is_rejected("deployed")

    # 1. Publish the new key to every verifier, the signer's process included
    #    (a rolling deploy: old and new processes run side by side).
    deployment.published = publish(
        capsys, tmp / "v1.json", *keys.publish_new, "--keep", deployment.published
    )
    published = deployment.start(VERIFIER, ("signer", keys.old_signer))
    deployment.check_no_valid_token_is_rejected("publishing")
    deployment.retire(*deployed)
    deployment.check_no_valid_token_is_rejected("published")

    # 2. Switch the signer; a process that resolved the old key keeps it.
    keys.switch()
    assert jwt.get_unverified_header(published[1].mint())["kid"] == keys.old_kid
    switched = deployment.start(VERIFIER, ("signer", keys.new_signer))
    deployment.check_no_valid_token_is_rejected("switching")
    deployment.retire(*published)
    last_old_signature = time.time()
    deployment.check_no_valid_token_is_rejected("switched")

    # 3. Retire the old key one maximum lifetime plus the leeway later.
    time.sleep(max(0.0, last_old_signature + TTL + LEEWAY - time.time()))
    deployment.published = publish(
        capsys,
        tmp / "v2.json",
        *keys.publish_current(),
        "--keep",
        deployment.published,
        "--drop",
        keys.old_kid,
    )
    assert kids(deployment.published) == {keys.new_kid}
    retired = deployment.start(VERIFIER, ("signer", keys.new_signer))
    deployment.check_no_valid_token_is_rejected("retiring")
    deployment.retire(*switched)
    deployment.check_no_valid_token_is_rejected("retired")

    # A token of the retired key, fresh as it may be, is refused now.
    (ghost,) = deployment.start(("signer", keys.retired_signer))
    stale = ghost.mint()
    deployment.retire(ghost)
    assert jwt.get_unverified_header(stale)["kid"] == keys.old_kid
    for peer in retired:
        assert peer.verify(stale) == "error invalid_token"


def test_the_file_key_runbook_rejects_no_valid_token(
    tmp_path, capsys, deployment: Deployment
):
    old, new = tmp_path / "old.pem", tmp_path / "new.pem"
    for path in (old, new):
        assert main(["keygen", "--out", str(path)]) == 0
    old_kid, new_kid = capsys.readouterr().out.split()
    current = {"key": old}

    def switch() -> None:
        current["key"] = new

    keys = Keys(
        old_kid=old_kid,
        new_kid=new_kid,
        old_signer={"WIKIBOT_AUTH_PRIVATE_KEY_FILE": str(old)},
        new_signer={"WIKIBOT_AUTH_PRIVATE_KEY_FILE": str(new)},
        publish_new=["--key", str(new)],
        publish_current=lambda: ["--key", str(current["key"])],
        retired_signer={"WIKIBOT_AUTH_PRIVATE_KEY_FILE": str(old)},
        switch=switch,
    )
    walk_the_runbook(deployment, capsys, tmp_path, keys)


def test_the_kms_alias_runbook_rejects_no_valid_token(
    tmp_path, capsys, moto_server, monkeypatch, environ, deployment: Deployment
):
    with kms_of_kind("moto_server", monkeypatch, moto_server) as kms:
        environ.update({k: v for k, v in os.environ.items() if k.startswith("AWS_")})
        old, new = kms.create_key(), kms.create_key()
        kms.point_alias(ALIAS, old)
        on_alias = {"WIKIBOT_AUTH_KMS_KEY_ID": ALIAS}
        keys = Keys(
            old_kid=thumbprint(kms.public_key(old)),
            new_kid=thumbprint(kms.public_key(new)),
            old_signer=on_alias,
            new_signer=on_alias,
            publish_new=["--kms-key-id", new],  # the alias still names the old
            publish_current=lambda: ["--kms-key-id", ALIAS],
            retired_signer={"WIKIBOT_AUTH_KMS_KEY_ID": old},
            switch=lambda: kms.point_alias(ALIAS, new),
        )
        walk_the_runbook(deployment, capsys, tmp_path, keys)
