"""The server's log formats: text with the audit fields, or one JSON object."""

from __future__ import annotations

import io
import json
import logging

import pytest

from wikibot_auth.domain.audit import audit
from wikibot_auth.entrypoints.log_format import formatter_for


@pytest.fixture
def captured():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("wikibot_auth")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    yield stream, handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_json_lines_carry_the_audit_fields(captured):
    stream, handler = captured
    handler.setFormatter(formatter_for("json"))
    audit("user.signed_out", user_id="usr_1", token_generation=3)
    record = json.loads(stream.getvalue())
    assert record["message"] == "user.signed_out"
    assert (record["user_id"], record["token_generation"]) == ("usr_1", 3)
    assert (record["level"], record["name"]) == ("INFO", "wikibot_auth")
    assert "time" in record


def test_text_lines_name_the_audit_fields(captured):
    stream, handler = captured
    handler.setFormatter(formatter_for("text"))
    audit("user.disabled", user_id="usr_1")
    logging.getLogger("wikibot_auth").info("plain message")
    assert stream.getvalue().splitlines() == [
        "INFO user.disabled user_id='usr_1'",
        "INFO plain message",
    ]
