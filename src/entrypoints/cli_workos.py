"""The ``workos`` command: ``backfill-identities``, the raw identities WorkOS knows.

Registered by ``cli.build_parser``. Progress goes to stderr: a bar redrawn in
place when stderr is a terminal, else one plain line per user handled (user
ids and provider names, never a subject or a key); the summary goes to stdout.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any, TextIO

from ..domain.errors import NotConfigured
from ..domain.migration import (
    CONFLICT,
    FAILED,
    LINKED,
    NO_IDENTITY,
    WOULD_LINK,
    BackfillStep,
    BackfillSummary,
)
from .containers import Container, create_container
from .wire import EXIT_OK, exit_code

BAR_WIDTH = 30
_SAID = {
    LINKED: "linked",
    WOULD_LINK: "would link",
    NO_IDENTITY: "no raw identity at WorkOS",
    CONFLICT: "held by another user",
    FAILED: "failed",
}


def add_workos_command(commands: Any) -> None:
    """Add ``workos backfill-identities`` to the top-level subparsers."""
    workos = commands.add_parser("workos", help="tools for leaving WorkOS")
    verbs = workos.add_subparsers(
        dest="workos_command", required=True, parser_class=type(workos)
    )
    text = (
        "link the raw identity WorkOS names (its identities API) to every user "
        "that has a WorkOS user id and none; safe to stop and run again"
    )
    backfill = verbs.add_parser("backfill-identities", help=text, description=text)
    backfill.add_argument(
        "--dry-run", action="store_true", help="write nothing; say what it would do"
    )
    backfill.set_defaults(run=_backfill)


class Progress:
    """What the backfill shows on ``stream`` as it goes: a bar on a terminal,
    plain lines otherwise."""

    def __init__(self, stream: TextIO, total: int | None = None) -> None:
        self._stream = stream
        self._total = total
        self._done = 0
        self._counts: Counter[str] = Counter()

    @staticmethod
    def is_terminal(stream: TextIO) -> bool:
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty())

    def step(self, step: BackfillStep) -> None:
        self._done += 1
        self._counts[step.outcome] += 1
        if self._total is None:
            print(_line(step), file=self._stream, flush=True)
            return
        total = max(self._total, self._done)
        filled = BAR_WIDTH * self._done // total if total else BAR_WIDTH
        counts = "  ".join(
            f"{_SAID[name]} {self._counts[name]}"
            for name in (LINKED, WOULD_LINK, NO_IDENTITY, CONFLICT, FAILED)
            if self._counts[name]
        )
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        print(
            f"\rbackfill [{bar}] {self._done}/{total}  {counts}\x1b[K",
            end="",
            file=self._stream,
            flush=True,
        )

    def close(self) -> None:
        if self._total is not None and self._done:
            print(file=self._stream, flush=True)


def _line(step: BackfillStep) -> str:
    said = f"{step.user_id}: {_SAID[step.outcome]}"
    if step.provider:
        said += f" {step.provider}"
    if step.outcome == CONFLICT:
        said += (
            f" (user {step.other_user_id}: users merge {step.other_user_id} "
            f"{step.user_id})"
        )
    if step.code:
        said += f" ({step.code})"
    return said


def summary_text(summary: BackfillSummary) -> str:
    outcomes = summary.outcomes
    linked = (
        f"  would link: {outcomes.get(WOULD_LINK, 0)}"
        if summary.dry_run
        else f"  linked: {outcomes.get(LINKED, 0)}"
    )
    lines = [
        f"backfill-identities{' (dry run: nothing written)' if summary.dry_run else ''}"
        f": {summary.scanned} users scanned, {summary.candidates} to backfill",
        linked,
        f"  no raw identity at WorkOS: {outcomes.get(NO_IDENTITY, 0)}",
        f"  held by another user (merge them): {outcomes.get(CONFLICT, 0)}",
        f"  failed (see the log; run again): {outcomes.get(FAILED, 0)}",
    ]
    if summary.stopped_by is not None:
        lines.append(
            f"stopped early: {summary.stopped_by} (WorkOS kept refusing or did not "
            "answer); run it again later to go on"
        )
    return "\n".join(lines)


def _backfill(args: argparse.Namespace, out: TextIO) -> int:
    given: Container | None = getattr(args, "container", None)
    container = given if given is not None else create_container(runtime="cli")
    try:
        backfill = container.backfill_identities()
        if backfill.identity_directory is None:
            raise NotConfigured("the backfill needs WorkOS: set WORKOS_API_KEY")
        stream = sys.stderr
        total = backfill.count_candidates() if Progress.is_terminal(stream) else None
        progress = Progress(stream, total)
        try:
            summary = backfill(dry_run=args.dry_run, on_step=progress.step)
        finally:
            progress.close()
    finally:
        if given is None:
            container.shutdown_resources()
    print(summary_text(summary), file=out)
    return EXIT_OK if summary.stopped_by is None else exit_code(summary.stopped_by)
