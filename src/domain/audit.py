"""Audit events: security-relevant records on the ``wikibot_auth`` logger.

DESIGN "Logging and audit events": the message is the event name and the
fields go in the record's ``extra`` under stable names, so a JSON formatter
emits them as fields. ``EVENTS`` is DESIGN's table; ``audit`` refuses an event
or a field it does not list, so a typo fails in the tests, not in a log
search. No field may carry a token, code, state, nonce, verifier, key or
secret.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

logger = logging.getLogger("wikibot_auth")

EVENTS: Mapping[str, frozenset[str]] = {
    "login.succeeded": frozenset({"user_id", "provider", "user_created", "linked"}),
    "login.failed": frozenset({"code", "provider"}),
    "identity.linked": frozenset({"user_id", "provider", "by"}),
    "identity.unlinked": frozenset({"user_id", "provider", "by"}),
    "identity.conflict": frozenset({"user_id", "other_user_id", "provider"}),
    "user.signed_out": frozenset({"user_id", "token_generation"}),
    "user.disabled": frozenset({"user_id"}),
    "user.enabled": frozenset({"user_id"}),
    "user.merged": frozenset({"user_id", "into_user_id"}),
    "token.rejected": frozenset({"code", "token_sha256_8"}),
}

# The names a LogRecord holds already: ``logging`` refuses them in ``extra``
# (KeyError), and a formatter could not tell them from ours.
RESERVED_NAMES = frozenset(
    vars(logging.LogRecord("name", logging.INFO, "path", 1, "msg", None, None))
) | {"message", "asctime"}


def audit(event: str, *, level: int = logging.INFO, **fields: object) -> None:
    """Log ``event`` at ``level`` with ``fields`` in the record's ``extra``.

    Raises:
        ValueError: ``event`` is not in ``EVENTS``, or ``fields`` are not
            exactly its fields (a programmer's mistake).
    """
    expected = EVENTS.get(event)
    if expected is None:
        raise ValueError(f"unknown audit event {event!r}")
    if fields.keys() != expected:
        raise ValueError(
            f"audit event {event!r} takes the fields {sorted(expected)}, "
            f"not {sorted(fields)}"
        )
    logger.log(level, event, extra=fields)
