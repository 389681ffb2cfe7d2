"""Usage errors of the command line: raised by its verbs, printed by ``main``.

argparse would exit and echo what it did not understand; here a usage error is
an exception (exit 2), and unrecognized arguments are never echoed: one may be
a token.
"""

from __future__ import annotations

import argparse
from typing import Any


class UsageError(Exception):
    """A usage or configuration mistake; ``main`` prints it and exits 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would sys.exit(2)
        if message.startswith("unrecognized arguments"):
            message = "unrecognized arguments"  # never echo them: one may be a token
        raise UsageError(f"{self.prog}: {message}")
