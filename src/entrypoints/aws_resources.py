"""The AWS pieces the container makes once per process, from settings.

The DynamoDB and KMS clients (from the process's one boto3 session), in a
Lambda process with the tighter budget that fits the authorizer's 5 s; the
KMS signing key, resolved once and pinned by ARN; the DynamoDB table's
operator tools. boto3 and the KMS adapter are imported when first made, never
at import: the Lambda authorizer path loads only what its configuration uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..adapters.aws_clients import lambda_budget, make_aws_client
from ..adapters.dynamodb import make_dynamodb_client
from ..domain.errors import NotConfigured

if TYPE_CHECKING:
    from ..adapters.dynamodb_table import DynamoDBTable
    from ..adapters.kms_signing_key import KMSSigningKey


def _budget(runtime: str) -> dict[str, Any]:
    """In Lambda, the tighter budget of the AWS clients that fits the
    authorizer's 5 s (see ``LAMBDA_*`` in adapters/aws_clients.py)."""
    return lambda_budget() if runtime == "lambda" else {}


def dynamodb_client_for(runtime: str, session: Any) -> Any:
    """The process's one DynamoDB client."""
    return make_dynamodb_client(session=session, **_budget(runtime))


def kms_client_for(runtime: str, session: Any) -> Any:
    """The process's one KMS client: the same settings as DynamoDB's."""
    return make_aws_client(
        "kms",
        purpose="the KMS signing key (WIKIBOT_AUTH_KMS_KEY_ID)",
        session=session,
        **_budget(runtime),
    )


def kms_signing_key_for(client: Any, key_id: str | None) -> KMSSigningKey:
    from ..adapters.kms_signing_key import KMSSigningKey
    from .login_state import HKDF_INFO  # the login cookie's, at first use

    if not key_id:
        raise NotConfigured("no KMS key: set WIKIBOT_AUTH_KMS_KEY_ID")
    # The login cookie's key is derived from KMS's signature of its label.
    return KMSSigningKey.resolve(client, key_id, secret_label=HKDF_INFO)


def dynamodb_table_for(client: Any, table: str) -> DynamoDBTable:
    from ..adapters.dynamodb_table import DynamoDBTable

    return DynamoDBTable(client, table)
