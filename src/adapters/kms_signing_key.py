"""A ``SigningBackend`` whose RSA private key never leaves AWS KMS (boto3 ``kms``).

``KMSSigningKey.resolve`` asks ``GetPublicKey`` once per process: it turns the
configured id, ARN or ``alias/...`` into the key's ARN (the ``KeyId`` KMS
answers) and its public key, and checks the key (``SIGN_VERIFY``, RSA of at
least 2048 bits on the loaded public key: moto answers no ``KeySpec``). Every
signature is then a KMS ``Sign`` on that ARN (``RSASSA_PKCS1_V1_5_SHA_256``,
``MessageType=RAW``), so an alias moved later never signs under this process's
``kid``: switching keys takes a new process.

botocore logs request and response bodies at DEBUG: for KMS ``Sign`` those
hold the signing input and the signature (a whole token, or the login cookie's
secret), so this module redacts them in botocore's records.

KMS faults become domain errors (DESIGN "Keys"): throttling, ``KeyUnavailable``,
``DependencyTimeout``, ``KMSInternal``, any 5xx and connection failures are
``SignerUnavailable``; ``AccessDenied``, ``Disabled``, ``KMSInvalidState``,
``NotFound``, ``InvalidKeyUsage`` and every other refusal are ``NotConfigured``,
logged at ERROR. Messages name the key and KMS's error code, never a signing
input or a signature.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..domain.errors import NotConfigured, SignerUnavailable
from .key_files import check_key_size, thumbprint

logger = logging.getLogger("wikibot_auth")

SIGNING_ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"
SIGN_VERIFY = "SIGN_VERIFY"
# KMS signs a RAW message of at most 4096 bytes.
MAX_MESSAGE_BYTES = 4096
RETRY_AFTER = 1

UNAVAILABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "KeyUnavailableException",
        "DependencyTimeoutException",
        "KMSInternalException",
    }
)
# Refusals that a retry will not cure; like every other 4xx, not_configured.
MISCONFIGURED_CODES = frozenset(
    {
        "AccessDeniedException",
        "DisabledException",
        "KMSInvalidStateException",
        "NotFoundException",
        "InvalidKeyUsageException",
    }
)
_CONFIGURATION_FAULTS = (
    NoCredentialsError,
    PartialCredentialsError,
    ParamValidationError,
)
# A JWS signing input is base64url segments joined by dots: a label with any
# other byte can never be one, so its signature is never in a token.
_SIGNING_INPUT = re.compile(rb"[A-Za-z0-9_.\-]*")


class _RedactKMSSign(logging.Filter):
    """Replaces the bodies of KMS ``Sign`` calls in botocore's DEBUG records
    (``botocore.endpoint``: the request; ``botocore.parsers``: the answer)."""

    @staticmethod
    def _secret(value: object, operation: object) -> bool:
        if getattr(operation, "name", None) == "Sign" and isinstance(value, dict):
            return True
        return isinstance(value, bytes | bytearray) and (
            b'"Signature"' in value and b'"SigningAlgorithm"' in value
        )

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args:
            record.args = tuple(
                "<redacted: KMS Sign>" if self._secret(value, args[0]) else value
                for value in args
            )
        return True


_REDACT = _RedactKMSSign()
for _name in ("botocore.endpoint", "botocore.parsers"):
    logging.getLogger(_name).addFilter(_REDACT)  # a set: added once


def _translate(exc: Exception, operation: str, key_id: str) -> Exception:
    """The domain error for a boto3 failure of ``operation`` on ``key_id``."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code in UNAVAILABLE_CODES or (
            code not in MISCONFIGURED_CODES and status >= 500
        ):
            logger.warning("KMS %s on %s failed: %s", operation, key_id, code)
            return SignerUnavailable(
                f"KMS {operation} on {key_id}: {code}", retry_after=RETRY_AFTER
            )
        detail = str(error.get("Message", ""))[:300]
        logger.error("KMS refused %s on %s: %s %s", operation, key_id, code, detail)
        return NotConfigured(f"KMS refused {operation} on {key_id}: {code}")
    if isinstance(exc, _CONFIGURATION_FAULTS):
        name = type(exc).__name__
        logger.error("KMS %s on %s cannot be sent: %s", operation, key_id, name)
        return NotConfigured(f"KMS {operation} on {key_id}: {name}")
    name = type(exc).__name__  # a connection failure or a timeout
    logger.warning("KMS %s on %s failed: %s", operation, key_id, name)
    return SignerUnavailable(
        f"KMS {operation} on {key_id}: {name}", retry_after=RETRY_AFTER
    )


def _ask(call: Callable[..., Any], operation: str, key_id: str, **params: Any) -> Any:
    try:
        return call(KeyId=key_id, **params)
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc, operation, key_id) from exc


def _refuse(message: str) -> NotConfigured:
    logger.error("%s", message)
    return NotConfigured(message)


def _public_key(answer: Any, key_id: str) -> rsa.RSAPublicKey:
    usage = answer.get("KeyUsage")
    if usage != SIGN_VERIFY:
        raise _refuse(f"KMS key {key_id} has KeyUsage {usage}; {SIGN_VERIFY} needed")
    spec = answer.get("KeySpec") or answer.get("CustomerMasterKeySpec")
    if spec is not None and not str(spec).startswith("RSA_"):
        raise _refuse(f"KMS key {key_id} is {spec}; an RSA key is needed")
    algorithms = answer.get("SigningAlgorithms")
    if algorithms is not None and SIGNING_ALGORITHM not in algorithms:
        raise _refuse(f"KMS key {key_id} cannot sign with {SIGNING_ALGORITHM}")
    try:
        public = serialization.load_der_public_key(bytes(answer["PublicKey"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise _refuse(f"KMS key {key_id}: unreadable public key") from exc
    if not isinstance(public, rsa.RSAPublicKey):
        raise _refuse(f"KMS key {key_id} is not an RSA key")
    try:
        check_key_size(public, f"KMS key {key_id}")
    except NotConfigured as exc:
        raise _refuse(exc.message) from exc
    return public


class KMSSigningKey:
    """A ``SigningBackend``: RS256 signatures made by KMS ``Sign`` with one
    key, pinned by ARN. Build it with ``resolve``."""

    def __init__(
        self,
        client: Any,
        key_arn: str,
        public_key: rsa.RSAPublicKey,
        *,
        secret_label: bytes,
    ) -> None:
        if _SIGNING_INPUT.fullmatch(secret_label):
            raise ValueError("the secret label must not look like a JWS signing input")
        self._client = client
        self._key_arn = key_arn
        self._public_key = public_key
        self._secret_label = secret_label
        self._secret: bytes | None = None
        self._secret_lock = threading.Lock()

    @classmethod
    def resolve(cls, client: Any, key_id: str, *, secret_label: bytes) -> KMSSigningKey:
        """``GetPublicKey`` on ``key_id`` (id, ARN or ``alias/...``): the key
        it names now, pinned by its ARN. ``secret_label`` is the message
        whose signature is ``secret_material()``.

        Raises:
            NotConfigured: no such key, no access, or not an RSA >= 2048
                ``SIGN_VERIFY`` key (logged at ERROR).
            SignerUnavailable: KMS throttled, timed out or failed.
        """
        answer = _ask(client.get_public_key, "GetPublicKey", key_id)
        public = _public_key(answer, key_id)
        key_arn = answer.get("KeyId")
        if not isinstance(key_arn, str) or not key_arn:
            raise _refuse(f"KMS GetPublicKey on {key_id} named no key")
        key = cls(client, key_arn, public, secret_label=secret_label)
        logger.info("signing with KMS key %s (kid %s)", key_arn, thumbprint(public))
        return key

    def __repr__(self) -> str:
        return f"KMSSigningKey(key_arn={self._key_arn!r})"

    @property
    def key_arn(self) -> str:
        """The key's ARN as ``GetPublicKey`` answered it (moto: the key id)."""
        return self._key_arn

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self._public_key

    def sign(self, signing_input: bytes) -> bytes:
        """KMS ``Sign`` on the pinned key; the signature is checked against its
        public key before it is used.

        Raises:
            ValueError: ``signing_input`` over 4096 bytes (no call is made).
            SignerUnavailable, NotConfigured: see the module docstring.
        """
        if len(signing_input) > MAX_MESSAGE_BYTES:
            raise ValueError(
                f"KMS signs at most {MAX_MESSAGE_BYTES} bytes; the signing input "
                f"has {len(signing_input)}"
            )
        answer = _ask(
            self._client.sign,
            "Sign",
            self._key_arn,
            Message=signing_input,
            MessageType="RAW",
            SigningAlgorithm=SIGNING_ALGORITHM,
        )
        signature = bytes(answer.get("Signature", b""))
        try:
            self._public_key.verify(
                signature, signing_input, padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            raise _refuse(
                f"KMS Sign on {self._key_arn} answered a signature that its public "
                "key does not verify (another endpoint or key?)"
            ) from None
        return signature

    def secret_material(self) -> bytes:
        """KMS's RSASSA-PKCS1-v1_5 signature of the secret label: deterministic,
        so every process holding this key derives the same bytes; made once
        per process and never logged."""
        with self._secret_lock:
            if self._secret is None:
                self._secret = self.sign(self._secret_label)
            return self._secret
