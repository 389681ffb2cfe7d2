"""The users table's items as the DynamoDB store reads and writes them, call by call.

The client (its timeouts and retries), and one method per kind of request the
store makes: a consistent get, a conditional put, a conditional update of a
user item, a batch of consistent gets, a page of a scan. Library errors become
domain errors here (``translate_error``); a failed condition is
``ConditionFailed`` for the store to interpret.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from ..domain.errors import StoreUnavailable, UnknownUser
from ..domain.model import User
from ..domain.ports import Clock
from .aws_clients import (
    CONNECT_TIMEOUT,
    MAX_ATTEMPTS,
    READ_TIMEOUT,
    make_aws_client,
)
from .dynamodb_table import (
    CONDITION_FAILED,
    DIGEST_IDENTITY_PREFIX,
    IDENTITY_KEYS,
    IDENTITY_PREFIX,
    USER_PREFIX,
    error_code,
    plain,
    translate_error,
    user_key,
)

BATCH_GET_KEYS = 100  # BatchGetItem's limit per request
BATCH_GET_ROUNDS = 5  # for the keys a throttled batch leaves unprocessed
_CURSOR_PREFIX = "d1."
_KEY_PREFIXES = (USER_PREFIX, IDENTITY_PREFIX, DIGEST_IDENTITY_PREFIX)
# What an identity item holds to name its identity and its user.
_NAMING = ("pk", "user_id", "provider", "subject")

T = TypeVar("T")


def make_dynamodb_client(
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    max_attempts: int = MAX_ATTEMPTS,
    session: Any = None,
) -> Any:
    """The process's one DynamoDB client (the container keeps it as a Singleton,
    made from the process's one boto3 ``session``).

    Region and endpoint come from boto3's own configuration
    (``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL_DYNAMODB``, ...). Timeouts: connect
    2 s, read 3 s; botocore ``standard`` retries, at most 3 attempts. The Lambda
    entrypoint passes the tighter ``LAMBDA_*`` budget (adapters/aws_clients.py,
    shared with the KMS client).

    Raises:
        NotConfigured: boto3 has no region.
    """
    return make_aws_client(
        "dynamodb",
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_attempts=max_attempts,
        purpose="the DynamoDB user store",
        session=session,
    )


class ConditionFailed(Exception):
    """A conditional write found its condition false (nothing was written)."""


def encode_cursor(last_key: Mapping[str, Any]) -> str:
    """A scan's ``LastEvaluatedKey`` as an opaque cursor (the key may name an
    identity, so it is not shown as is)."""
    pk = str(last_key["pk"]["S"]).encode("utf-8", "surrogatepass")
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(pk).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The ``ExclusiveStartKey`` a cursor stands for.

    Raises:
        ValueError: not a cursor this store made.
    """
    if not isinstance(cursor, str) or not cursor.startswith(_CURSOR_PREFIX):
        raise ValueError("not a cursor of this store")
    encoded = cursor[len(_CURSOR_PREFIX) :]
    try:
        pk = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode(
            "utf-8", "surrogatepass"
        )
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("not a cursor of this store") from None
    if not pk.startswith(_KEY_PREFIXES):
        raise ValueError("not a cursor of this store")
    return {"pk": {"S": pk}}


class DynamoDBItems:
    """Reads and writes of the users table's items (the store builds on it).

    Reads are consistent; numbers come back as ``int``. Updates of a user item
    are conditional on its existence (``UnknownUser`` otherwise) and set
    ``updated_at`` from ``clock`` (default: the system time), in whole seconds.
    boto3 is imported only when a client is built.
    """

    def __init__(self, client: Any, table: str, *, clock: Clock | None = None) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
        from botocore.exceptions import BotoCoreError, ClientError

        if not table:
            raise ValueError("a DynamoDB table name is required")
        self._client = client
        self.table = table
        self._time: Callable[[], float] = time.time if clock is None else clock.now
        self._serialize = TypeSerializer().serialize
        self._deserialize = TypeDeserializer().deserialize
        self._library_errors: tuple[type[Exception], ...] = (ClientError, BotoCoreError)

    def _get(self, pk: str) -> dict[str, Any] | None:
        answer = self._call(
            self._client.get_item,
            TableName=self.table,
            Key={"pk": {"S": pk}},
            ConsistentRead=True,
        )
        item = answer.get("Item")
        if not item:
            return None
        return self._plain(item)

    def _put_new(self, item: Mapping[str, Any]) -> None:
        self._call(
            self._client.put_item,
            TableName=self.table,
            Item={k: self._serialize(v) for k, v in item.items()},
            ConditionExpression="attribute_not_exists(pk)",
        )

    def _update(
        self, user_id: str, changes: Mapping[str, Any], *, drop_key: str | None = None
    ) -> User:
        # SET the changes and updated_at, REMOVE what is None; ``drop_key``
        # leaves the user's identity_keys.
        changes = {**changes, "updated_at": self._now()}
        sets = {k: v for k, v in changes.items() if v is not None}
        expression = "SET " + ", ".join(f"#{k} = :{k}" for k in sets)
        removed = [k for k, v in changes.items() if v is None]
        if removed:
            expression += " REMOVE " + ", ".join(f"#{k}" for k in removed)
        names = {f"#{k}": k for k in changes}
        values = {f":{k}": self._serialize(v) for k, v in sets.items()}
        if drop_key is not None:
            expression += f" DELETE #{IDENTITY_KEYS} :dropped"
            names[f"#{IDENTITY_KEYS}"] = IDENTITY_KEYS
            values[":dropped"] = {"SS": [drop_key]}
        try:
            answer = self._call(
                self._client.update_item,
                TableName=self.table,
                Key={"pk": {"S": user_key(user_id)}},
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ConditionFailed:
            raise UnknownUser() from None
        return self._user_of_answer(answer)

    def _add_identity_key(self, user_id: str, key: str) -> None:
        """Name ``key`` in the user's ``identity_keys`` (and nothing else: not
        even ``updated_at``), before the identity item names the user."""
        try:
            self._call(
                self._client.update_item,
                TableName=self.table,
                Key={"pk": {"S": user_key(user_id)}},
                UpdateExpression=f"ADD #{IDENTITY_KEYS} :key",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={f"#{IDENTITY_KEYS}": IDENTITY_KEYS},
                ExpressionAttributeValues={":key": {"SS": [key]}},
            )
        except ConditionFailed:
            raise UnknownUser() from None

    def _repoint_identity(self, key: str, from_user_id: str, to_user_id: str) -> None:
        """Point the identity item ``key`` at ``to_user_id`` if it still names
        ``from_user_id``; its ``pending`` note (about the user it was created
        for) goes. Raises ``ConditionFailed`` when it names another user or
        is gone."""
        self._call(
            self._client.update_item,
            TableName=self.table,
            Key={"pk": {"S": key}},
            UpdateExpression="SET user_id = :to REMOVE pending",
            ConditionExpression="user_id = :from",
            ExpressionAttributeValues={
                ":to": {"S": to_user_id},
                ":from": {"S": from_user_id},
            },
        )

    def _batch_get(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The identity items under ``keys`` that exist (consistent reads, the
        attributes that name an identity and its user only), by key."""
        wanted = sorted(set(keys))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), BATCH_GET_KEYS):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [
                        {"pk": {"S": k}} for k in wanted[start : start + BATCH_GET_KEYS]
                    ],
                    "ConsistentRead": True,
                    "ProjectionExpression": ", ".join(f"#{n}" for n in _NAMING),
                    "ExpressionAttributeNames": {f"#{n}": n for n in _NAMING},
                }
            }
            for attempt in range(BATCH_GET_ROUNDS):
                answer = self._call(self._client.batch_get_item, RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table, []):
                    plain_item = self._plain(item)
                    found[str(plain_item["pk"])] = plain_item
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05 * 2**attempt)
            else:
                raise StoreUnavailable(
                    f"DynamoDB table {self.table!r} is throttling reads",
                    retry_after=1,
                )
        return found

    def _scan_users(
        self, start: Mapping[str, Any] | None, limit: int
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """At most ``limit`` user items from ``start`` on, and where to go on
        (None at the end). ``Limit`` bounds the items each request reads,
        identity items included, so no request returns more users than are
        still wanted; requests go on until the page is full."""
        users: list[dict[str, Any]] = []
        last: dict[str, Any] | None = None if start is None else dict(start)
        while len(users) < limit:
            kwargs: dict[str, Any] = {
                "TableName": self.table,
                "Limit": limit - len(users),
                "FilterExpression": "begins_with(pk, :user)",
                "ExpressionAttributeValues": {":user": {"S": USER_PREFIX}},
                "ConsistentRead": True,
            }
            if last is not None:
                kwargs["ExclusiveStartKey"] = last
            answer = self._call(self._client.scan, **kwargs)
            users.extend(self._plain(item) for item in answer.get("Items", []))
            last = answer.get("LastEvaluatedKey")
            if not last:
                return users, None
        return users, last

    def _plain(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: plain(self._deserialize(v)) for k, v in item.items()}

    def _user_of_answer(self, answer: Mapping[str, Any]) -> User:
        return User.from_item(self._plain(answer.get("Attributes", {})))

    def _now(self) -> int:
        return math.floor(self._time())

    def _call(self, method: Callable[..., T], **kwargs: Any) -> T:
        try:
            return method(**kwargs)
        except self._library_errors as exc:
            if error_code(exc) == CONDITION_FAILED:
                raise ConditionFailed() from None
            raise translate_error(exc, self.table) from exc
