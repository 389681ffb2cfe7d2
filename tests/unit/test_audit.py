"""Audit events: one helper, DESIGN's table of events, and field names that
never collide with what a LogRecord holds."""

from __future__ import annotations

import json
import logging

import pytest

from wikibot_auth.domain.audit import EVENTS, RESERVED_NAMES, audit

# DESIGN "Logging and audit events", as a table.
DESIGN_TABLE = {
    "login.succeeded": {"user_id", "provider", "user_created", "linked"},
    "login.failed": {"code", "provider"},
    "identity.linked": {"user_id", "provider", "by"},
    "identity.unlinked": {"user_id", "provider", "by"},
    "identity.conflict": {"user_id", "other_user_id", "provider"},
    "user.signed_out": {"user_id", "token_generation"},
    "user.disabled": {"user_id"},
    "user.enabled": {"user_id"},
    "user.merged": {"user_id", "into_user_id"},
    "token.rejected": {"code", "token_sha256_8"},
}


def test_the_events_are_designs_table() -> None:
    assert {name: set(fields) for name, fields in EVENTS.items()} == DESIGN_TABLE


def test_no_field_name_is_one_a_log_record_holds() -> None:
    record = logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None)
    record.getMessage()
    taken = set(vars(record)) | {"message", "asctime"}
    assert taken <= RESERVED_NAMES
    for fields in EVENTS.values():
        assert not fields & RESERVED_NAMES


def test_an_event_is_its_name_with_its_fields_on_the_record(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="wikibot_auth"):
        audit("user.merged", user_id="usr_1", into_user_id="usr_2")
    (record,) = caplog.records
    assert (record.name, record.levelno, record.getMessage()) == (
        "wikibot_auth",
        logging.INFO,
        "user.merged",
    )
    assert (record.user_id, record.into_user_id) == ("usr_1", "usr_2")
    # What a JSON formatter emits: the record's own attributes beyond the
    # standard ones.
    extra = {k: v for k, v in vars(record).items() if k not in RESERVED_NAMES}
    assert json.loads(json.dumps(extra)) == {
        "user_id": "usr_1",
        "into_user_id": "usr_2",
    }


def test_a_level_may_be_given(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="wikibot_auth"):
        audit(
            "identity.conflict",
            level=logging.ERROR,
            user_id="usr_1",
            other_user_id="usr_2",
            provider="google",
        )
    assert caplog.records[0].levelno == logging.ERROR


@pytest.mark.parametrize(
    ("event", "fields"),
    [
        ("user.exploded", {"user_id": "usr_1"}),
        ("user.merged", {"user_id": "usr_1"}),
        ("user.merged", {"user_id": "usr_1", "into_user_id": "u", "extra": 1}),
        ("user.disabled", {"user_id": "usr_1", "name": "clash"}),
    ],
)
def test_an_unknown_event_or_field_is_a_programmers_mistake(event, fields) -> None:
    with pytest.raises(ValueError, match="audit event"):
        audit(event, **fields)
