"""The rule every real peer's fixture keeps (STYLE "Tests"): when what it needs
is not on this machine, its test is skipped locally and fails under
``CI=true``, with a message that says how to install it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from tests.integration.dynalite import dynalite_or_skip
from tests.integration.moto_server import moto_server_or_skip
from tests.integration.oidc_peer import oidc_provider_or_skip

# peer -> (its fixture form, started where nothing is installed; the hint)
MISSING: dict[str, tuple[Callable[[Path], AbstractContextManager[Any]], str]] = {
    "dynalite": (lambda tmp: dynalite_or_skip(tmp / "dynalite"), "npm ci"),
    "moto_server": (lambda tmp: moto_server_or_skip(tmp / "moto_server"), "moto-venv"),
    "oidc-provider": (
        lambda tmp: oidc_provider_or_skip(tmp, tmp / "package.json"),
        "npm ci",
    ),
}


@pytest.mark.parametrize("peer", list(MISSING))
@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_a_missing_peer_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    peer: str,
    ci: str,
    outcome: type[BaseException],
) -> None:
    monkeypatch.setenv("CI", ci)
    missing, hint = MISSING[peer]
    with pytest.raises(outcome, match=hint), missing(tmp_path):
        pass  # pragma: no cover - never entered
