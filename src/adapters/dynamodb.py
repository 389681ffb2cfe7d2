"""The ``UserRepository`` port on one DynamoDB table (boto3), without transactions."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..domain.errors import (
    InternalError,
    OperationRefused,
    StoreUnavailable,
    UnknownUser,
)
from ..domain.linking import recorded_after_unlink
from ..domain.model import (
    MAX_GENERATION,
    Identity,
    User,
    UserPage,
    UserWithIdentities,
    link_changes,
)
from .aws_clients import (
    LAMBDA_CONNECT_TIMEOUT,
    LAMBDA_MAX_ATTEMPTS,
    LAMBDA_READ_TIMEOUT,
)
from .dynamodb_items import (
    ConditionFailed,
    DynamoDBItems,
    decode_cursor,
    encode_cursor,
    make_dynamodb_client,
)
from .dynamodb_table import (
    IDENTITY_KEYS,
    candidate_keys,
    identity_fields,
    identity_key,
    identity_of,
    user_key,
)

# Re-exported: the client and its Lambda budget (dynamodb_items), the keys.
__all__ = [
    "LAMBDA_CONNECT_TIMEOUT",
    "LAMBDA_MAX_ATTEMPTS",
    "LAMBDA_READ_TIMEOUT",
    "DynamoDBUserRepository",
    "identity_key",
    "make_dynamodb_client",
    "user_key",
]


class DynamoDBUserRepository(DynamoDBItems):
    """``UserRepository`` on a DynamoDB table.

    Item shape (DESIGN.md "Users and identities"), hash key ``pk`` (S), no
    sort key:

    - ``USER#<user_id>``: the user's attributes (and any an operator added).
    - ``IDENTITY#<provider>#<subject>``: ``user_id`` (a long key has a digest
      form, see ``identity_key``). The identities written by ``create`` also
      carry ``pending``: the user item they were created with and the
      identities to claim for it (a recovery note, see below; it stays, since
      it is harmless once the user item exists and removing it would cost a
      write).

    Creating a user with several identities (a raw identity and its WorkOS
    alias) without ``TransactWriteItems`` (dynalite has none):

    1. Claim the FIRST identity with ``attribute_not_exists(pk)``. That single
       conditional put decides the race: whoever wins it owns the new user; a
       loser reads the claim (consistently) and returns the winner's user,
       completing it first if needed. Every claim carries the ``pending`` note,
       so any one of them is enough to finish the user: that is what makes a
       crash after it harmless.
    2. Complete: claim every other identity of the note
       (``attribute_not_exists``; one already ours is fine), then put
       ``USER#<id>`` with ``attribute_not_exists``. A conditional failure on
       the user item means someone else completed it: consistent re-read. The
       creator and any reader that finds a claim whose user item is missing run
       this same idempotent completion, so a crash anywhere in between is
       finished by the next login and nobody ever sees two users.
    3. When another identity of the note already belongs to ANOTHER user (say
       an alias-only user created while the raw identity lookup was failing),
       the new user is never written: the first claim is re-pointed to that
       user (a conditional update on ``user_id`` still being ours) and linked
       to it, as a login would have done. Identity ownership only changes while
       a claim is pending and no user item exists for it, so every completer
       decides the same. (The operator's unlink and move change it too, but
       only for users whose item exists, which no completer touches.)

    A user's identities, with no index on ``user_id`` (a GSI would change
    every deployed table, and its reads are only eventually consistent): the
    user item names its identity items in ``identity_keys``, a string set
    that is a SUPERSET of them. A write adds a key (``ADD``) BEFORE the
    identity item names the user, and drops it (``DELETE``) only AFTER the
    item stopped naming it, so a crash in between leaves an extra key, never
    a missing one. The identity items stay the truth: a reader takes the keys
    in ``identity_keys`` plus those the recorded primary and
    ``workos_user_id`` name (all a record older than ``identity_keys`` can
    tell), and keeps those whose item names this user, read with
    ``BatchGetItem`` (consistent, 100 keys a request). So a page of
    ``scan_users`` is right whatever order the ``Scan`` returns ``USER#`` and
    ``IDENTITY#`` items in, and holds nothing beyond the page. (An older
    record whose primary a login replaced before this version shows only the
    newest primary.)

    ``scan_users`` is a paginated ``Scan`` filtered to ``USER#`` items, its
    ``Limit`` the users still wanted (so a page never holds more), its
    ``LastEvaluatedKey`` the cursor (base64url, as it may name an identity).
    A link adds the key without touching ``updated_at``, so a link refused
    because another user holds the identity changes nothing a reader sees.

    Updates are ``UpdateItem`` with ``attribute_exists(pk)`` and ``SET`` on the
    changed attributes and ``updated_at`` only (see ``DynamoDBItems``):
    unknown attributes, ``tier``, ``disabled`` and the revocation attributes
    survive every login. A sign-out is ``ADD token_generation :one``, atomic,
    so racing sign-outs all count. Library errors become ``StoreUnavailable``
    naming the table, never credentials; a ``ValidationException`` (a request
    the service refuses, which no retry fixes) becomes ``InternalError``.
    """

    # -- the port

    def get(self, user_id: str) -> User | None:
        item = self._get(user_key(user_id))
        return None if item is None else User.from_item(item)

    def find_by_identity(self, identity: Identity) -> User | None:
        claim = self._get(identity_key(identity))
        if claim is None:
            return None
        return self._user_of_claim(identity_key(identity), claim)

    def create(self, user: User, identities: Sequence[Identity]) -> tuple[User, bool]:
        if not identities:
            raise ValueError("a user is created with at least one identity")
        first = identities[0]
        pending: dict[str, Any] = {
            "user": {
                "pk": user_key(user.user_id),
                **user.to_item(),
                IDENTITY_KEYS: {identity_key(i) for i in identities},
            },
            "identities": [identity_key(i) for i in identities],
        }
        named = {identity_key(i): identity_fields(i) for i in identities}
        named = {key: fields for key, fields in named.items() if fields}
        if named:
            pending["named"] = named
        claim: dict[str, Any] = {
            "pk": identity_key(first),
            "user_id": user.user_id,
            "pending": pending,
            **identity_fields(first),
        }
        try:
            self._put_new(claim)
        except ConditionFailed:
            existing = self._get(claim["pk"])
            # Only an operator's unlink between the two calls removes it: a
            # retryable answer (the next login claims it).
            if existing is None:  # pragma: no cover
                raise StoreUnavailable(
                    f"DynamoDB table {self.table!r}: an identity vanished"
                ) from None
            winner = self._user_of_claim(claim["pk"], existing)
            if winner is None:  # pragma: no cover - a claim always names a user
                raise StoreUnavailable(
                    f"DynamoDB table {self.table!r}: an identity has no user"
                ) from None
            return winner, False
        result = self._complete(first, claim)
        if result is None:  # pragma: no cover - see _user_of_claim
            raise StoreUnavailable(f"DynamoDB table {self.table!r}: incomplete user")
        return result, result.user_id == user.user_id

    def link_identity(
        self, user_id: str, identity: Identity, *, primary: bool = True
    ) -> User:
        key = identity_key(identity)
        self._add_identity_key(user_id, key)  # UnknownUser for a missing user
        try:
            self._put_new({"pk": key, "user_id": user_id, **identity_fields(identity)})
        except ConditionFailed:
            existing = self._get(key)
            if existing is not None and existing.get("user_id") != user_id:
                winner = self._user_of_claim(key, existing)
                if winner is not None:
                    return winner
        return self._update(user_id, link_changes(identity, primary=primary))

    def update_profile(self, user_id: str, changes: Mapping[str, str]) -> User:
        unknown = set(changes) - {"email", "display_name"}
        if unknown:
            raise ValueError(f"not profile attributes: {sorted(unknown)}")
        if not changes:
            user = self.get(user_id)
            if user is None:
                raise UnknownUser()
            return user
        return self._update(user_id, dict(changes))

    def revoke_tokens(self, user_id: str, now: int) -> User:
        # ADD is atomic: racing sign-outs all count. The condition refuses,
        # before writing, a stored token_generation that is not a number, is
        # negative, or has no successor below MAX_GENERATION.
        try:
            answer = self._call(
                self._client.update_item,
                TableName=self.table,
                Key={"pk": {"S": user_key(user_id)}},
                UpdateExpression="ADD token_generation :one "
                "SET tokens_valid_after = :valid_after, updated_at = :now",
                ConditionExpression="attribute_exists(pk) AND "
                "(attribute_not_exists(token_generation) "
                "OR (attribute_type(token_generation, :number) "
                "AND token_generation BETWEEN :zero AND :last))",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":number": {"S": "N"},
                    ":valid_after": {"N": str(math.floor(now))},
                    ":now": {"N": str(self._now())},
                    ":zero": {"N": "0"},
                    ":last": {"N": str(MAX_GENERATION - 2)},
                },
                ReturnValues="ALL_NEW",
            )
        except ConditionFailed:
            item = self._get(user_key(user_id))
            if item is None:
                raise UnknownUser() from None
            User.from_item(item)  # InternalError for what it cannot read
            raise InternalError(
                f"DynamoDB table {self.table!r}: token_generation is at its maximum"
            ) from None
        return self._user_of_answer(answer)

    def set_disabled(self, user_id: str, disabled: bool) -> User:
        return self._update(user_id, {"disabled": bool(disabled)})

    def get_with_identities(self, user_id: str) -> UserWithIdentities | None:
        item = self._get(user_key(user_id))
        return None if item is None else self._with_identities([item])[0]

    def scan_users(self, cursor: str | None, limit: int) -> UserPage:
        if limit < 1:
            raise ValueError("a page holds at least one user")
        start = None if cursor is None else decode_cursor(cursor)
        items, last = self._scan_users(start, limit)
        users = self._with_identities(items)
        return UserPage(users, None if last is None else encode_cursor(last))

    def unlink_identity(self, user_id: str, identity: Identity) -> User:
        current = self.get_with_identities(user_id)
        if current is None:
            raise UnknownUser()
        key = identity_key(identity)
        try:
            self._call(
                self._client.delete_item,
                TableName=self.table,
                Key={"pk": {"S": key}},
                ConditionExpression="user_id = :mine",
                ExpressionAttributeValues={":mine": {"S": user_id}},
            )
        except ConditionFailed:
            raise OperationRefused("the identity does not map to this user") from None
        changes = recorded_after_unlink(current.user, identity, current.identities)
        return self._update(user_id, changes, drop_key=key)

    def move_identity(
        self, identity: Identity, from_user_id: str, to_user_id: str
    ) -> User | None:
        key = identity_key(identity)
        self._add_identity_key(to_user_id, key)  # UnknownUser for a missing one
        try:
            self._repoint_identity(key, from_user_id, to_user_id)
        except ConditionFailed:
            claim = self._get(key)
            if claim is None:
                return None
            if claim.get("user_id") != to_user_id:
                return self._user_of_claim(key, claim)
        else:
            try:
                self._update(from_user_id, {}, drop_key=key)
            except UnknownUser:
                pass  # an identity of a user item removed by hand
        return self._update(to_user_id, {})

    def mark_merged(self, user_id: str, into_user_id: str) -> User:
        return self._update(user_id, {"merged_into": into_user_id, "disabled": True})

    # -- internals

    def _with_identities(
        self, items: Sequence[Mapping[str, Any]]
    ) -> list[UserWithIdentities]:
        candidates = {str(item["user_id"]): candidate_keys(item) for item in items}
        found = self._batch_get(k for keys in candidates.values() for k in keys)
        return [
            UserWithIdentities(
                User.from_item(item),
                [
                    identity_of(key, found[key])
                    for key in candidates[str(item["user_id"])]
                    if key in found and found[key].get("user_id") == item["user_id"]
                ],
            )
            for item in items
        ]

    def _user_of_claim(self, key: str, claim: Mapping[str, Any]) -> User | None:
        item = self._get(user_key(str(claim["user_id"])))
        if item is not None:
            return User.from_item(item)
        if "pending" not in claim:
            return None
        return self._complete(identity_of(key, claim), claim)

    def _complete(self, first: Identity, claim: Mapping[str, Any]) -> User | None:
        pending = claim["pending"]
        user_id = str(claim["user_id"])
        for key in pending["identities"][1:]:
            try:
                self._put_new(
                    {
                        "pk": key,
                        "user_id": user_id,
                        "pending": pending,
                        **pending.get("named", {}).get(key, {}),
                    }
                )
                continue
            except ConditionFailed:
                owner = self._get(key)
            if owner is None or owner.get("user_id") == user_id:
                continue
            return self._yield_to(first, user_id, key, owner)
        try:
            self._put_new(dict(pending["user"]))
            return User.from_item(pending["user"])
        except ConditionFailed:
            pass  # another reader or the creator completed it
        item = self._get(user_key(user_id))
        if item is not None:
            return User.from_item(item)
        # The claim was re-pointed meanwhile (step 3): follow it.
        claim_now = self._get(identity_key(first))
        if claim_now is None or claim_now.get("user_id") == user_id:
            return None
        return self._user_of_claim(identity_key(first), claim_now)

    def _yield_to(
        self, first: Identity, user_id: str, owner_key: str, owner: Mapping[str, Any]
    ) -> User | None:
        winner = self._user_of_claim(owner_key, owner)
        if winner is None:
            return None
        self._add_identity_key(winner.user_id, identity_key(first))
        try:
            self._repoint_identity(identity_key(first), user_id, winner.user_id)
        except ConditionFailed:
            pass  # another completer re-pointed it already
        if (winner.oauth_provider, winner.oauth_provider_sub) == (
            first.provider,
            first.subject,
        ):
            return winner
        return self._update(
            winner.user_id,
            {"oauth_provider": first.provider, "oauth_provider_sub": first.subject},
        )
