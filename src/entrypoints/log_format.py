"""How ``wikibot-auth serve`` writes its log: text for people, or JSON lines.

``WIKIBOT_AUTH_LOG_FORMAT=text`` (the default) writes ``LEVEL message`` and, for
an audit event, its fields as ``name=value``; ``json`` writes one JSON object
per record (python-json-logger, the ``server`` extra) with the audit fields as
keys. The library itself adds no handler: this is the server's choice, and a
Lambda function uses Lambda's own JSON log format (the template's
``LoggingConfig``).
"""

from __future__ import annotations

import logging

from ..domain.audit import EVENTS

_AUDIT_FIELDS = sorted({name for fields in EVENTS.values() for name in fields})


class AuditTextFormatter(logging.Formatter):
    """``LEVEL message`` plus the audit fields the record carries."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [
            f"{name}={getattr(record, name)!r}"
            for name in _AUDIT_FIELDS
            if name in record.__dict__
        ]
        return " ".join([line, *fields])


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter of ``WIKIBOT_AUTH_LOG_FORMAT``."""
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level"},
        )
    return AuditTextFormatter()


def configure_logging(log_format: str) -> None:
    """One stderr handler on the root logger with that format; the library's
    logger at INFO (the audit events)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter_for(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    logging.getLogger("wikibot_auth").setLevel(logging.INFO)
