"""The DynamoDB users table itself: its keys and values, its errors, its tools."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..domain.errors import InternalError, StoreUnavailable
from ..domain.model import WORKOS_PROVIDER, Identity

# Hash key ``pk`` (S), no sort key (DESIGN "Users and identities", DynamoDB).
USER_PREFIX = "USER#"
IDENTITY_PREFIX = "IDENTITY#"
DIGEST_IDENTITY_PREFIX = "IDENTITY-SHA256#"
MAX_PLAIN_KEY_BYTES = 1024
# A user item's string set of the keys of its identity items (a superset: see
# ``DynamoDBUserRepository``).
IDENTITY_KEYS = "identity_keys"

CONDITION_FAILED = "ConditionalCheckFailedException"
_THROTTLED = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
    }
)
_DENIED = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "ExpiredTokenException",
    }
)


def user_key(user_id: str) -> str:
    return USER_PREFIX + user_id


def identity_key(identity: Identity) -> str:
    """``IDENTITY#<provider>#<subject>``, or its digest form when that is long:
    ``IDENTITY-SHA256#<provider>#<hex SHA-256 of the UTF-8 subject>`` for a key
    over 1024 UTF-8 bytes (DynamoDB refuses hash keys over 2048)."""
    plain = IDENTITY_PREFIX + identity.key
    if len(plain.encode("utf-8", "surrogatepass")) <= MAX_PLAIN_KEY_BYTES:
        return plain
    digest = hashlib.sha256(identity.subject.encode("utf-8", "surrogatepass"))
    return f"{DIGEST_IDENTITY_PREFIX}{identity.provider}#{digest.hexdigest()}"


def identity_fields(identity: Identity) -> dict[str, str]:
    """What a digest-keyed identity item carries to name its identity (a plain
    key names it already)."""
    if identity_key(identity).startswith(DIGEST_IDENTITY_PREFIX):
        return {"provider": identity.provider, "subject": identity.subject}
    return {}


def identity_of(key: str, item: Mapping[str, Any]) -> Identity:
    """The identity an identity item under ``key`` stands for."""
    if key.startswith(DIGEST_IDENTITY_PREFIX):
        return Identity(str(item["provider"]), str(item["subject"]))
    provider, _, subject = key.removeprefix(IDENTITY_PREFIX).partition("#")
    return Identity(provider, subject)


def candidate_keys(user_item: Mapping[str, Any]) -> set[str]:
    """The keys of the identity items that may name this user: those in its
    ``identity_keys``, and those its recorded primary and ``workos_user_id``
    name (all that a record written before ``identity_keys`` can tell). An
    identity item says whether it does."""
    keys = {str(k) for k in user_item.get(IDENTITY_KEYS) or ()}
    recorded = [
        (user_item.get("oauth_provider"), user_item.get("oauth_provider_sub")),
        (WORKOS_PROVIDER, user_item.get("workos_user_id")),
    ]
    for provider, subject in recorded:
        if isinstance(provider, str) and isinstance(subject, str):
            try:
                keys.add(identity_key(Identity(provider, subject)))
            except ValueError:
                pass  # not a valid identity (a hand edit)
    return keys


def plain(value: Any) -> Any:
    """A deserialized value with DynamoDB's Decimals as the ints (or floats)
    they stand for, throughout."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set):
        return {plain(v) for v in value}
    return value


def error_code(exc: Exception) -> str | None:
    """The service's error code of a botocore ``ClientError``, else None."""
    response = getattr(exc, "response", None)
    if not isinstance(response, Mapping):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code else None


def translate_error(exc: Exception, table: str) -> StoreUnavailable | InternalError:
    """A boto3/botocore failure as a domain error naming ``table``, never the
    service's message (it may quote values) nor credentials.

    A ``ValidationException`` (a request the service refuses, which no retry
    fixes) is ``InternalError``; everything else is ``StoreUnavailable``.
    """
    from botocore.exceptions import (
        ConnectionError,
        NoCredentialsError,
        ParamValidationError,
        WaiterError,
    )

    code = error_code(exc)
    if code == "ValidationException" or isinstance(exc, ParamValidationError):
        return InternalError(
            f"DynamoDB table {table!r} refused a request as invalid "
            f"({code or type(exc).__name__})"
        )
    if code == "ResourceNotFoundException":
        return StoreUnavailable(
            f"DynamoDB table {table!r} does not exist; create it with "
            f"`wikibot-auth dynamodb create-table --table {table}`"
        )
    if code in _THROTTLED:
        return StoreUnavailable(
            f"DynamoDB table {table!r} is throttling requests ({code})",
            retry_after=1,
        )
    if code in _DENIED:
        return StoreUnavailable(f"DynamoDB access to table {table!r} denied ({code})")
    if code is not None:
        return StoreUnavailable(f"DynamoDB table {table!r} answered {code}")
    if isinstance(exc, NoCredentialsError):
        return StoreUnavailable(f"DynamoDB table {table!r}: no AWS credentials")
    if isinstance(exc, WaiterError):
        return StoreUnavailable(f"DynamoDB table {table!r} did not become ACTIVE")
    if isinstance(exc, ConnectionError):
        return StoreUnavailable(
            f"DynamoDB table {table!r} unreachable ({type(exc).__name__})"
        )
    return StoreUnavailable(f"DynamoDB table {table!r}: {type(exc).__name__}")


class DynamoDBTable:
    """The users table as an operator (and a test) handles it: create it,
    count its users. Not an adapter: the store never needs these.

    Raises ``StoreUnavailable`` (or ``InternalError``) as the store does.
    """

    def __init__(self, client: Any, table: str) -> None:
        if not table:
            raise ValueError("a DynamoDB table name is required")
        self._client = client
        self.table = table

    def create(self, wait: bool = True) -> bool:
        """Create the table (hash key ``pk``, on-demand billing); False when it
        exists already. With ``wait``, return once it is ACTIVE."""
        from botocore.exceptions import BotoCoreError, ClientError

        created = True
        try:
            self._client.create_table(
                TableName=self.table,
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as exc:
            if error_code(exc) != "ResourceInUseException":
                raise translate_error(exc, self.table) from exc
            created = False
        except BotoCoreError as exc:
            raise translate_error(exc, self.table) from exc
        if wait:
            waiter = self._client.get_waiter("table_exists")
            try:
                waiter.wait(
                    TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
                )
            except (BotoCoreError, ClientError) as exc:
                raise translate_error(exc, self.table) from exc
        return created

    def user_count(self) -> int:
        """How many users the table holds (a full scan: tests and one-off
        operator checks only)."""
        from botocore.exceptions import BotoCoreError, ClientError

        count = 0
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "begins_with(pk, :p)",
            "ExpressionAttributeValues": {":p": {"S": USER_PREFIX}},
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        while True:
            try:
                page = self._client.scan(**kwargs)
            except (BotoCoreError, ClientError) as exc:
                raise translate_error(exc, self.table) from exc
            count += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return count
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
