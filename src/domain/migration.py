"""Leaving WorkOS: who a direct provider will find, and the backfill of raw identities.

DESIGN "Leaving WorkOS": a user a direct provider (``google``, ``github``,
...) can find holds a raw identity; one holding only the ``workos`` alias or
``local`` is stranded. ``MigrationReport`` counts them; ``BackfillIdentities``
asks WorkOS (an ``IdentityDirectory``) for the raw identity of every user that
has a WorkOS user id and none, and links it. Both walk the store page by page
(``UserRepository.scan_users``), holding one page at a time.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from .audit import audit
from .errors import AuthError, IdPUnavailable, NotConfigured
from .linking import canonical_identity, is_raw, records_as_primary
from .model import WORKOS_PROVIDER, Identity, UserWithIdentities
from .ports import IdentityDirectory, UserRepository
from .repairs import OPERATOR

PAGE_SIZE = 100
MAX_WAIT = 300  # the longest Retry-After honoured, in seconds

logger = logging.getLogger("wikibot_auth")


def walk(
    repo: UserRepository, page_size: int = PAGE_SIZE
) -> Iterator[UserWithIdentities]:
    """Every user with its identities, a page at a time."""
    cursor: str | None = None
    while True:
        page = repo.scan_users(cursor, page_size)
        yield from page.users
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


@attrs.frozen
class StrandedUser:
    """A user no direct provider will find: the providers it holds (``workos``,
    ``local``, or none) and whether it is disabled."""

    user_id: str
    email: str
    providers: tuple[str, ...]
    workos_user_id: str | None
    disabled: bool

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, value_serializer=_listed)


def _listed(instance: object, field: object, value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@attrs.frozen
class MigrationSummary:
    """Users counted by the identities they hold.

    ``providers``: for each provider, the users holding an identity of it.
    ``migrated``: users a direct provider finds (``findable``). ``stranded``:
    the others (holding only the ``workos`` alias or ``local``, or nothing),
    of which ``backfill-identities`` can help ``backfillable`` (see
    ``needs_backfill``). Users merged away are
    counted in ``merged`` only. ``stranded_users`` lists them when asked.
    """

    users: int
    providers: Mapping[str, int]
    migrated: int
    stranded: int
    backfillable: int
    merged: int
    stranded_users: tuple[StrandedUser, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "users": self.users,
            "providers": dict(sorted(self.providers.items())),
            "migrated": self.migrated,
            "stranded": self.stranded,
            "backfillable": self.backfillable,
            "merged": self.merged,
        }
        if self.stranded_users is not None:
            data["stranded_users"] = [u.to_dict() for u in self.stranded_users]
        return data


def _workos_user_id(found: UserWithIdentities) -> str | None:
    aliases = [i.subject for i in found.identities if i.provider == WORKOS_PROVIDER]
    return found.user.workos_user_id or (min(aliases) if aliases else None)


@attrs.frozen
class MigrationReport:
    """``migration_report(list_stranded=False) -> MigrationSummary``: who a
    direct provider will find (reads only).

    Raises:
        StoreUnavailable: the user store could not be read.
    """

    user_repository: UserRepository
    page_size: int = PAGE_SIZE

    def __call__(self, *, list_stranded: bool = False) -> MigrationSummary:
        users = migrated = backfillable = merged = 0
        providers: Counter[str] = Counter()
        stranded: list[StrandedUser] = []
        for found in walk(self.user_repository, self.page_size):
            users += 1
            user = found.user
            if user.merged_into is not None:
                merged += 1
                continue
            providers.update({i.provider for i in found.identities})
            if findable(found):
                migrated += 1
                continue
            backfillable += needs_backfill(found)
            workos_user_id = _workos_user_id(found)
            stranded.append(
                StrandedUser(
                    user_id=user.user_id,
                    email=user.email,
                    providers=tuple(sorted({i.provider for i in found.identities})),
                    workos_user_id=workos_user_id,
                    disabled=user.disabled,
                )
            )
        return MigrationSummary(
            users=users,
            providers=dict(providers),
            migrated=migrated,
            stranded=len(stranded),
            backfillable=backfillable,
            merged=merged,
            stranded_users=tuple(stranded) if list_stranded else None,
        )


# What became of one user in a backfill.
LINKED = "linked"
WOULD_LINK = "would_link"  # --dry-run
NO_IDENTITY = "no_identity"  # WorkOS lists no raw identity for the account
CONFLICT = "conflict"  # another user holds it: merge needed
FAILED = "failed"  # WorkOS answered an error for this account
OUTCOMES = (LINKED, WOULD_LINK, NO_IDENTITY, CONFLICT, FAILED)


@attrs.frozen
class BackfillStep:
    """One user handled by the backfill: its outcome, the provider of the
    identity found, the user holding it (a conflict), the error code (a
    failure)."""

    user_id: str
    outcome: str
    provider: str | None = None
    other_user_id: str | None = None
    code: str | None = None


@attrs.frozen
class BackfillSummary:
    """What the backfill did: users walked, users it had to ask about, how
    many ended each way (``OUTCOMES``), and the error code that stopped it
    early, if one did (run it again to go on)."""

    scanned: int
    candidates: int
    outcomes: Mapping[str, int]
    dry_run: bool
    stopped_by: str | None = None


def findable(found: UserWithIdentities) -> bool:
    """Whether a direct provider finds the user: it holds a raw identity in
    its canonical form (a Microsoft GUID in upper case is not found)."""
    return any(is_raw(i) and canonical_identity(i) == i for i in found.identities)


def to_canonicalize(found: UserWithIdentities) -> Identity | None:
    """The canonical form of a raw identity the user holds only in another
    form (WorkOS's upper-case Microsoft GUIDs), to link without asking WorkOS."""
    forms = {canonical_identity(i) for i in found.identities if is_raw(i)}
    missing = sorted(forms - set(found.identities))
    return missing[0] if missing else None


def needs_backfill(found: UserWithIdentities) -> bool:
    """Whether the backfill acts on the user: not merged away, and not found
    by a direct provider, and either holding a raw identity to put in its
    canonical form or having a WorkOS user id to ask about."""
    if found.user.merged_into is not None or findable(found):
        return False
    return to_canonicalize(found) is not None or _workos_user_id(found) is not None


@attrs.frozen
class BackfillIdentities:
    """``backfill_identities(dry_run=False, on_step=None) -> BackfillSummary``.

    For every user ``needs_backfill`` names: link the canonical form of a raw
    identity it holds in another form, else ask the directory for the raw
    identity of its WorkOS account and link that, in its canonical form; by a
    conditional write, as the user's recorded primary, with an audit event
    ``identity.linked`` (``by="operator"``). Idempotent: a user it linked
    is no longer a candidate, so stopping and running it again goes on where
    it stopped. A 429 (``IdPUnavailable`` with ``retry_after``) is waited out
    with ``sleep`` (at most ``MAX_WAIT`` s a time) up to ``attempts`` times
    per user; then the run stops, reporting the code. Another error about one
    account is that user's ``failed`` outcome. An identity held by another
    user is a ``conflict`` (an ``identity.conflict`` ERROR): that person has
    two users, for ``users merge``. ``dry_run`` writes nothing and reports
    what it would link. ``on_step`` sees each user handled.

    Raises:
        NotConfigured: there is no identity directory (no WorkOS API key).
        StoreUnavailable: the user store could not be used.
    """

    user_repository: UserRepository
    identity_directory: IdentityDirectory | None
    sleep: Callable[[float], None] = time.sleep
    page_size: int = PAGE_SIZE
    attempts: int = 5

    def count_candidates(self) -> int:
        """How many users a run would ask about now (a walk that reads only)."""
        return sum(
            needs_backfill(found)
            for found in walk(self.user_repository, self.page_size)
        )

    def __call__(
        self,
        *,
        dry_run: bool = False,
        on_step: Callable[[BackfillStep], None] | None = None,
    ) -> BackfillSummary:
        if self.identity_directory is None:
            raise NotConfigured("the backfill needs WorkOS: set WORKOS_API_KEY")
        scanned = candidates = 0
        outcomes: Counter[str] = Counter({outcome: 0 for outcome in OUTCOMES})
        stopped_by = None
        for found in walk(self.user_repository, self.page_size):
            scanned += 1
            if not needs_backfill(found):
                continue
            candidates += 1
            try:
                step = self._backfill(found, dry_run)
            except IdPUnavailable as exc:
                stopped_by = exc.code
                step = BackfillStep(found.user.user_id, FAILED, code=exc.code)
            outcomes[step.outcome] += 1
            if on_step is not None:
                on_step(step)
            if stopped_by is not None:
                break
        return BackfillSummary(
            scanned=scanned,
            candidates=candidates,
            outcomes=dict(outcomes),
            dry_run=dry_run,
            stopped_by=stopped_by,
        )

    def _backfill(self, found: UserWithIdentities, dry_run: bool) -> BackfillStep:
        user = found.user
        identity = to_canonicalize(found)
        workos_user_id = _workos_user_id(found)
        if identity is None and workos_user_id is not None:
            try:
                named = self._ask(workos_user_id)
            except IdPUnavailable:
                raise
            except AuthError as exc:
                logger.warning(
                    "backfill: user_id=%s failed: %s", user.user_id, exc.code
                )
                return BackfillStep(user.user_id, FAILED, code=exc.code)
            identity = None if named is None else canonical_identity(named)
        if identity is None:
            return BackfillStep(user.user_id, NO_IDENTITY)
        repo = self.user_repository
        if dry_run:
            owner = repo.find_by_identity(identity)
            if owner is None or owner.user_id == user.user_id:
                return BackfillStep(user.user_id, WOULD_LINK, identity.provider)
        else:
            owner = repo.link_identity(
                user.user_id, identity, primary=records_as_primary(user, identity)
            )
            if owner.user_id == user.user_id:
                audit(
                    "identity.linked",
                    user_id=user.user_id,
                    provider=identity.provider,
                    by=OPERATOR,
                )
                return BackfillStep(user.user_id, LINKED, identity.provider)
        if not dry_run:
            audit(
                "identity.conflict",
                level=logging.ERROR,
                user_id=user.user_id,
                other_user_id=owner.user_id,
                provider=identity.provider,
            )
        return BackfillStep(
            user.user_id, CONFLICT, identity.provider, other_user_id=owner.user_id
        )

    def _ask(self, workos_user_id: str) -> Identity | None:
        directory = self.identity_directory
        assert directory is not None  # noqa: S101 - checked by __call__
        for attempt in range(1, self.attempts + 1):
            try:
                return directory.get_provider_sub(workos_user_id)
            except IdPUnavailable as exc:
                if attempt == self.attempts:
                    raise
                wait = 1 if exc.retry_after is None else exc.retry_after
                self.sleep(float(min(max(wait, 0), MAX_WAIT)))
        raise AssertionError("unreachable")  # pragma: no cover
