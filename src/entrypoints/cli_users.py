"""The ``users`` verbs for leaving WorkOS: the report, link, unlink and merge.

Registered by ``cli.build_parser``; each runs one use case from the container
and prints JSON or plain text on stdout. A refusal (``operation_refused``) or
an unknown user says why on a second line of stderr: user ids and provider
names only, never a subject.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from collections.abc import Callable
from typing import Any, TextIO

from ..domain.errors import AuthError
from ..domain.migration import MigrationSummary
from ..domain.model import Identity, User
from .containers import Container, create_container
from .wire import EXIT_OK, exit_code

Run = Callable[[argparse.Namespace, TextIO], int]
_PROVIDER = re.compile(r"[a-z0-9_\-]{1,64}")
# Codes whose message is worth a second line here (it names which user).
_EXPLAINED = frozenset({"operation_refused", "unknown_user"})


def add_migration_verbs(user_commands: Any) -> None:
    """Add the migration verbs to the ``users`` subparsers."""
    report = user_commands.add_parser(
        "migration-report",
        help="count users by the identities they hold; list the stranded ones",
        description="Users counted by the identities they hold, per provider; "
        "those a direct provider will not find (only the workos alias or "
        "local) are stranded, listed with --list.",
    )
    report.add_argument("--json", action="store_true", help="print JSON")
    report.add_argument(
        "--list", action="store_true", help="list the stranded users too"
    )
    report.set_defaults(run=_migration_report)
    for name, run, text in (
        (
            "link-identity",
            _link_identity,
            "link an identity to the user (refused when another user holds it)",
        ),
        (
            "unlink-identity",
            _unlink_identity,
            "unlink an identity from the user (never the user's last one)",
        ),
    ):
        verb = user_commands.add_parser(name, help=text, description=text)
        verb.add_argument("user_id", metavar="USER_ID")
        verb.add_argument(
            "provider",
            metavar="PROVIDER",
            type=_provider,
            help="the provider name, e.g. google, github, microsoft, workos",
        )
        verb.add_argument(
            "subject", metavar="SUBJECT", type=_subject, help="its subject (sub)"
        )
        verb.set_defaults(run=run)
    merge = user_commands.add_parser(
        "merge",
        help="move FROM's identities to INTO; disable FROM, marked merged_into",
        description="For a person with two users (one who signed in directly "
        "after the switch and got a second one): FROM is signed out, disabled "
        "and marked merged_into INTO (never deleted), and each of its "
        "identities moves to INTO. Running it again finishes a stopped merge.",
    )
    merge.add_argument("from_id", metavar="FROM_ID")
    merge.add_argument("into_id", metavar="INTO_ID")
    merge.set_defaults(run=_merge)


def _provider(value: str) -> str:
    if not _PROVIDER.fullmatch(value):
        raise argparse.ArgumentTypeError("must match [a-z0-9_-]{1,64}")
    return value


def _subject(value: str) -> str:
    if not value:
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def _container(args: argparse.Namespace) -> Container:
    given: Container | None = getattr(args, "container", None)
    return given if given is not None else create_container(runtime="cli")


def explained(run: Run) -> Run:
    """``run``, answering a refusal or an unknown user with its message too."""

    @functools.wraps(run)
    def answer(args: argparse.Namespace, out: TextIO) -> int:
        try:
            return run(args, out)
        except AuthError as exc:
            if exc.code not in _EXPLAINED:
                raise
            print(f"error: {exc.code}\n{exc.message}", file=sys.stderr)
            return exit_code(exc)

    return answer


def _identities(identities: tuple[Identity, ...]) -> list[dict[str, str]]:
    return [{"provider": i.provider, "subject": i.subject} for i in identities]


def _print_json(data: Any, out: TextIO) -> int:
    json.dump(data, out, indent=2, sort_keys=True, ensure_ascii=False)
    print(file=out)
    return EXIT_OK


def _print_user(container: Container, user: User, out: TextIO) -> int:
    found = container.user_repository().get_with_identities(user.user_id)
    held = () if found is None else found.identities
    return _print_json({**user.to_item(), "identities": _identities(held)}, out)


def _migration_report(args: argparse.Namespace, out: TextIO) -> int:
    summary = _container(args).migration_report()(list_stranded=args.list)
    if args.json:
        return _print_json(summary.to_dict(), out)
    print(_report_text(summary), file=out)
    return EXIT_OK


def _report_text(summary: MigrationSummary) -> str:
    lines = [
        f"users: {summary.users}",
        f"  migrated (a direct provider finds them): {summary.migrated}",
        f"  stranded (only the workos alias or local): {summary.stranded}"
        f" ({summary.backfillable} for workos backfill-identities)",
        f"  merged into another user: {summary.merged}",
        "users holding an identity, by provider:",
        *(f"  {name}: {count}" for name, count in sorted(summary.providers.items())),
    ]
    if summary.stranded_users is not None:
        lines.append("stranded users (user_id, email, providers, workos user):")
        for user in summary.stranded_users:
            flags = " (disabled)" if user.disabled else ""
            lines.append(
                f"  {user.user_id}\t{user.email}\t{','.join(user.providers) or '-'}"
                f"\t{user.workos_user_id or '-'}{flags}"
            )
    return "\n".join(lines)


def _identity_change(
    use_case: Callable[[Container], Callable[[str, Identity], User]],
) -> Run:
    @explained
    def run(args: argparse.Namespace, out: TextIO) -> int:
        container = _container(args)
        identity = Identity(args.provider, args.subject)
        return _print_user(container, use_case(container)(args.user_id, identity), out)

    return run


_link_identity = _identity_change(lambda container: container.link_identity())
_unlink_identity = _identity_change(lambda container: container.unlink_identity())


@explained
def _merge(args: argparse.Namespace, out: TextIO) -> int:
    result = _container(args).merge_users()(args.from_id, args.into_id)
    return _print_json(
        {
            "from": result.source.to_item(),
            "into": result.target.to_item(),
            "moved": _identities(result.moved),
            "left": _identities(result.left),
        },
        out,
    )
