"""Which identity a user records, as identities are linked, unlinked and moved.

A user holds any number of identities; its record names one of them as
``oauth_provider``/``oauth_provider_sub`` (the "primary", what the original
specification stored) and its WorkOS alias as ``workos_user_id``. A raw
identity (one a direct provider finds: ``google``, ``github``, ...) is what
makes a user survive leaving WorkOS; the ``workos`` alias and ``local`` are our
own namespaces, found by no direct provider.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .model import LOCAL_PROVIDER, WORKOS_PROVIDER, Identity, User

RESERVED_PROVIDERS = frozenset({WORKOS_PROVIDER, LOCAL_PROVIDER})
MICROSOFT_PROVIDER = "microsoft"
_GUID = re.compile(
    r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
)


def is_raw(identity: Identity) -> bool:
    """An identity a direct provider can find (not the ``workos`` alias, not
    ``local``)."""
    return identity.provider not in RESERVED_PROVIDERS


def canonical_identity(identity: Identity) -> Identity:
    """The form a direct provider stores: Microsoft's GUID subjects (``oid``)
    lower-cased (DESIGN "Identity providers"; WorkOS may report them in upper
    case). Any other subject, a Microsoft pairwise ``sub`` included, is
    case-sensitive and kept as it is."""
    if identity.provider == MICROSOFT_PROVIDER and _GUID.fullmatch(identity.subject):
        return Identity(identity.provider, identity.subject.lower())
    return identity


def recorded_identity(user: User) -> Identity | None:
    """The identity the record names as its primary, if it names a valid one."""
    try:
        return Identity(user.oauth_provider, user.oauth_provider_sub)
    except ValueError:
        return None


def records_as_primary(user: User, identity: Identity) -> bool:
    """Whether linking ``identity`` to ``user`` should make it the recorded
    primary: a raw identity replaces a recorded alias or ``local`` (or none),
    or the recorded identity's non-canonical form; never another raw identity
    (the one a login recorded stays)."""
    recorded = recorded_identity(user)
    if recorded is None or not is_raw(recorded):
        return is_raw(identity)
    return recorded != identity and canonical_identity(recorded) == identity


def best_identity(identities: Iterable[Identity]) -> Identity | None:
    """The identity to record as primary among ``identities``: the smallest raw
    one, else the smallest ``workos`` alias, else the smallest ``local``."""
    order = {WORKOS_PROVIDER: 1, LOCAL_PROVIDER: 2}
    ranked = sorted(identities, key=lambda i: (order.get(i.provider, 0), i))
    return ranked[0] if ranked else None


def recorded_after_unlink(
    user: User, identity: Identity, remaining: Iterable[Identity]
) -> dict[str, str | None]:
    """The record's changes once ``identity`` no longer maps to ``user`` and
    ``remaining`` still do: a recorded primary that was ``identity`` names the
    best remaining one (kept as it is when none remains), and a
    ``workos_user_id`` that was its subject names another remaining alias, or
    None (removed)."""
    left = [i for i in remaining if i != identity]
    changes: dict[str, str | None] = {}
    if recorded_identity(user) == identity:
        best = best_identity(left)
        if best is not None:
            changes["oauth_provider"] = best.provider
            changes["oauth_provider_sub"] = best.subject
    if identity.provider == WORKOS_PROVIDER and identity.subject == user.workos_user_id:
        aliases = sorted(i for i in left if i.provider == WORKOS_PROVIDER)
        changes["workos_user_id"] = aliases[0].subject if aliases else None
    return changes
