"""The users table's items as the DynamoDB store reads and writes them, call by call.

The client (its timeouts and retries), and one method per kind of request the
store makes: a consistent get, a conditional put, a conditional update of a
user item. Library errors become domain errors here (``translate_error``); a
failed condition is ``ConditionFailed`` for the store to interpret.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ..domain.errors import NotConfigured, UnknownUser
from ..domain.model import User
from ..domain.ports import Clock
from .dynamodb_table import (
    CONDITION_FAILED,
    error_code,
    plain,
    translate_error,
    user_key,
)

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 3.0
MAX_ATTEMPTS = 3
# The Lambda budget (README "Deployment"): a store call that never gets an
# answer gives up after 2 x (1 s connect + 1 s read) + at most 25 ms of
# botocore's standard-mode backoff for a non-throttling error = 4.03 s, inside
# the authorizer's 5 s budget. A throttled first attempt waits at most 1 s.
LAMBDA_CONNECT_TIMEOUT = 1.0
LAMBDA_READ_TIMEOUT = 1.0
LAMBDA_MAX_ATTEMPTS = 2


T = TypeVar("T")


def make_dynamodb_client(
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    max_attempts: int = MAX_ATTEMPTS,
) -> Any:
    """The process's one DynamoDB client (the container keeps it as a Singleton).

    Region and endpoint come from boto3's own configuration
    (``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL_DYNAMODB``, ...). Timeouts: connect
    2 s, read 3 s; botocore ``standard`` retries, at most 3 attempts. The Lambda
    entrypoint passes the tighter ``LAMBDA_*`` budget.

    Raises:
        NotConfigured: boto3 has no region.
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import NoRegionError

    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
    )
    try:
        return boto3.session.Session().client("dynamodb", config=config)
    except NoRegionError as exc:
        raise NotConfigured(
            "the DynamoDB user store needs a region: set AWS_DEFAULT_REGION"
        ) from exc


class ConditionFailed(Exception):
    """A conditional write found its condition false (nothing was written)."""


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

    def _update(self, user_id: str, changes: Mapping[str, Any]) -> User:
        changes = {**changes, "updated_at": self._now()}
        try:
            answer = self._call(
                self._client.update_item,
                TableName=self.table,
                Key={"pk": {"S": user_key(user_id)}},
                UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in changes),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={f"#{k}": k for k in changes},
                ExpressionAttributeValues={
                    f":{k}": self._serialize(v) for k, v in changes.items()
                },
                ReturnValues="ALL_NEW",
            )
        except ConditionFailed:
            raise UnknownUser() from None
        return self._user_of_answer(answer)

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
