"""The operator's repairs of identities: link, unlink, and merge two users.

Each is a frozen callable whose fields are ports, like every use case, and
each act is an audit event (``identity.linked`` / ``identity.unlinked`` with
``by="operator"``, ``user.merged``). A refusal is ``OperationRefused`` with a
message naming user ids and providers, never a subject (it may be an email),
and writes nothing.
"""

from __future__ import annotations

import math

import attrs

from .audit import audit
from .errors import OperationRefused, UnknownUser
from .linking import canonical_identity, records_as_primary
from .model import WORKOS_PROVIDER, Identity, User
from .ports import Clock, UserRepository

OPERATOR = "operator"


def _existing(repo: UserRepository, user_id: str, role: str = "") -> User:
    user = repo.get(user_id)
    if user is None:
        raise UnknownUser(f"no {role}user {user_id}")
    return user


def _refuse_merged(user: User) -> None:
    if user.merged_into is not None:
        raise OperationRefused(
            f"user {user.user_id} was merged into {user.merged_into}; act on "
            "that user instead"
        )


def link_on(repo: UserRepository, user: User, identity: Identity) -> User | None:
    """Link ``identity`` (canonical) to ``user`` as an operator does: as its
    recorded primary when it is raw and the record names no raw identity yet.
    Returns the user afterwards, or None when another user holds it."""
    linked = repo.link_identity(
        user.user_id, identity, primary=records_as_primary(user, identity)
    )
    if linked.user_id != user.user_id:
        return None
    audit(
        "identity.linked", user_id=user.user_id, provider=identity.provider, by=OPERATOR
    )
    return linked


@attrs.frozen
class LinkIdentity:
    """``link_identity(user_id, identity) -> User``: an operator's repair.

    The identity is stored in its canonical form (Microsoft GUIDs lower-cased,
    as the OIDC adapter stores them). Linking one the user holds already is a
    no-op.

    Raises:
        UnknownUser: no such user.
        OperationRefused: another user holds the identity (unlink it there or
            merge the two users first), or the user was merged away.
        StoreUnavailable
    """

    user_repository: UserRepository

    def __call__(self, user_id: str, identity: Identity) -> User:
        repo = self.user_repository
        identity = canonical_identity(identity)
        user = _existing(repo, user_id)
        _refuse_merged(user)
        owner = repo.find_by_identity(identity)
        if owner is None:
            linked = link_on(repo, user, identity)
            if linked is not None:
                return linked
            owner = repo.find_by_identity(identity)  # taken meanwhile
        if owner is not None and owner.user_id == user_id:
            return owner
        raise OperationRefused(
            f"the {identity.provider} identity belongs to user "
            f"{owner.user_id if owner else '(unknown)'}; unlink it there, or "
            "merge the two users"
        )


@attrs.frozen
class UnlinkIdentity:
    """``unlink_identity(user_id, identity) -> User``: an operator's repair.

    A user keeps at least one identity: one without any can never sign in
    again and no login could find it, so the last one is refused (disable the
    user to lock them out; link another identity first to replace it).
    Note that while WorkOS is the IdP, the next WorkOS login of a user found
    by its raw identity links its ``workos`` alias again.

    Raises:
        UnknownUser: no such user.
        OperationRefused: the identity is not this user's, or is its last.
        StoreUnavailable
    """

    user_repository: UserRepository

    def __call__(self, user_id: str, identity: Identity) -> User:
        repo = self.user_repository
        current = repo.get_with_identities(user_id)
        if current is None:
            raise UnknownUser(f"no user {user_id}")
        if identity not in current.identities:
            owner = repo.find_by_identity(identity)
            raise OperationRefused(
                f"the {identity.provider} identity is not linked to user {user_id}"
                + (f"; it belongs to user {owner.user_id}" if owner else "")
            )
        if current.identities == (identity,):
            raise OperationRefused(
                f"the {identity.provider} identity is the last of user {user_id}: "
                "a user without one can never sign in (link another first, or "
                "disable the user)"
            )
        user = repo.unlink_identity(user_id, identity)
        audit(
            "identity.unlinked",
            user_id=user_id,
            provider=identity.provider,
            by=OPERATOR,
        )
        return user


@attrs.frozen
class MergeResult:
    """What ``merge_users`` did: the records afterwards, the identities moved
    to the target, and those left behind (another user took them meanwhile)."""

    source: User
    target: User
    moved: tuple[Identity, ...]
    left: tuple[Identity, ...]


@attrs.frozen
class MergeUsers:
    """``merge_users(from_user_id, into_user_id) -> MergeResult``.

    For a person with two accounts (typically one who signed in directly after
    the switch and got a second user): the source is signed out everywhere,
    disabled and marked ``merged_into`` the target (never deleted), then each
    of its identities moves to the target by a conditional write, and is
    recorded there as a link would be. Stopped halfway (a crash, an outage),
    running it again finishes it.

    Raises:
        UnknownUser: either user does not exist.
        OperationRefused: the two are one user; the target is disabled or was
            merged away; the source was merged into another user.
        StoreUnavailable
    """

    user_repository: UserRepository
    clock: Clock

    def __call__(self, from_user_id: str, into_user_id: str) -> MergeResult:
        repo = self.user_repository
        if from_user_id == into_user_id:
            raise OperationRefused("cannot merge a user into itself")
        current = repo.get_with_identities(from_user_id)
        if current is None:
            raise UnknownUser(f"no user {from_user_id} to merge")
        target = _existing(repo, into_user_id, "target ")
        _refuse_merged(target)
        if target.disabled:
            raise OperationRefused(
                f"user {into_user_id} is disabled: enable it first, or merge into "
                "another user"
            )
        source = current.user
        if source.merged_into not in (None, into_user_id):
            raise OperationRefused(
                f"user {from_user_id} was merged into {source.merged_into} already"
            )
        started = source.merged_into is None
        if started:
            repo.revoke_tokens(from_user_id, math.floor(self.clock.now()))
            source = repo.mark_merged(from_user_id, into_user_id)
        moved, left = [], []
        for identity in current.identities:
            owner = repo.move_identity(identity, from_user_id, into_user_id)
            if owner is None or owner.user_id != into_user_id:
                left.append(identity)
                continue
            self._record(owner, identity)
            moved.append(identity)
        if started or moved:
            audit("user.merged", user_id=from_user_id, into_user_id=into_user_id)
        return MergeResult(
            source=_existing(repo, from_user_id),
            target=_existing(repo, into_user_id),
            moved=tuple(moved),
            left=tuple(left),
        )

    def _record(self, target: User, identity: Identity) -> None:
        # A moved identity maps to the target already; linking it again is
        # idempotent and records it where the target's record should name it.
        # The target's own WorkOS alias stays its workos_user_id.
        primary = records_as_primary(target, identity)
        alias = identity.provider == WORKOS_PROVIDER
        if primary or (alias and target.workos_user_id is None):
            self.user_repository.link_identity(
                target.user_id, identity, primary=primary
            )
        audit(
            "identity.linked",
            user_id=target.user_id,
            provider=identity.provider,
            by=OPERATOR,
        )
