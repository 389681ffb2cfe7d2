"""What a test does when something it needs is not on this machine."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def required(what: str) -> NoReturn:
    """Skip locally; under ``CI=true`` (where ``make test`` installs everything)
    a missing runtime or service fails the run instead of hiding behind a skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"required under CI=true: {what}", pytrace=False)
    pytest.skip(what)
