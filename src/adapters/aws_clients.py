"""boto3 clients with one budget: timeouts, standard retries, the Lambda limits.

A shared helper of the AWS adapters (the DynamoDB user store, the KMS signing
key), not an adapter: both services get the same client settings, and in a
Lambda process the same tighter budget.
"""

from __future__ import annotations

import threading
from typing import Any

from ..domain.errors import NotConfigured

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 3.0
MAX_ATTEMPTS = 3
# The Lambda budget (docs/deploying-aws.md, "Time budgets"): a call that never
# gets an answer gives up after 2 x (1 s connect + 1 s read) + botocore's
# standard-mode backoff for a non-throttling error (25 ms for DynamoDB: 4.03 s;
# 50 ms for KMS: 4.05 s), inside the authorizer's 5 s budget. A throttled first
# attempt waits at most 1 s.
LAMBDA_CONNECT_TIMEOUT = 1.0
LAMBDA_READ_TIMEOUT = 1.0
LAMBDA_MAX_ATTEMPTS = 2

# botocore sessions are not thread-safe while they create clients.
_CLIENT_LOCK = threading.Lock()


def new_session() -> Any:
    """A boto3 session: a process's clients made from one share what botocore
    loads once (endpoints, credentials), about 35 ms of a second client's cold
    start."""
    import boto3

    return boto3.session.Session()


def make_aws_client(
    service: str,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    max_attempts: int = MAX_ATTEMPTS,
    purpose: str,
    session: Any = None,
) -> Any:
    """A boto3 client for ``service`` with these timeouts and botocore
    ``standard`` retries, from ``session`` (else a new one). Region, endpoint
    and credentials come from boto3's own configuration
    (``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL_<SERVICE>``).

    Raises:
        NotConfigured: boto3 has no region (the message names ``purpose``).
    """
    from botocore.config import Config
    from botocore.exceptions import NoRegionError

    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
    )
    try:
        with _CLIENT_LOCK:
            return (session or new_session()).client(service, config=config)
    except NoRegionError as exc:
        raise NotConfigured(
            f"{purpose} needs a region: set AWS_DEFAULT_REGION"
        ) from exc


def lambda_budget() -> dict[str, Any]:
    """The keyword arguments of ``make_aws_client`` for a Lambda process."""
    return {
        "connect_timeout": LAMBDA_CONNECT_TIMEOUT,
        "read_timeout": LAMBDA_READ_TIMEOUT,
        "max_attempts": LAMBDA_MAX_ATTEMPTS,
    }
