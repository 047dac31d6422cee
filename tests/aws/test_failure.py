from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bus.aws.failure import (
    MAX_RAW_CHARS,
    UNTRUSTED,
    FailureRecord,
    read_failure,
)

FIRST = datetime(2026, 11, 23, 18, 4, 5, 120000, tzinfo=UTC)
LAST = FIRST + timedelta(seconds=14)
RECORD = FailureRecord(
    reason="handler-error",
    error_type="billing.PaymentDeclined",
    error="card declined",
    attempt=3,
    queue="dev-billing",
    message_id="m-1",
    first_failed_at=FIRST,
    failed_at=LAST,
)


def _forge(**changes: object) -> str:
    data = json.loads(RECORD.to_attribute())
    data.update(changes)
    return json.dumps(data)


def test_a_record_the_worker_writes_reads_back_the_same() -> None:
    text = RECORD.to_attribute()
    assert read_failure(text, sent_at=LAST + timedelta(seconds=1)) == RECORD
    assert read_failure(text) == RECORD
    assert RECORD.trusted


def test_no_attribute_is_no_record_and_max_receives_in_the_view() -> None:
    assert read_failure(None) is None
    assert read_failure("") is None
    assert FailureRecord().reason == "max-receives"
    assert not FailureRecord().trusted


def test_a_record_from_1970_is_never_trusted() -> None:
    forged = _forge(first_failed_at="1970-01-01T00:00:00.000000Z")
    read = read_failure(forged)
    assert read is not None
    assert read.reason == UNTRUSTED
    assert not read.trusted
    assert "before any bus worker ran" in (read.untrusted or "")
    assert read.raw == forged
    assert read.first_failed_at is None


def test_a_record_older_than_its_event_or_newer_than_its_message_is_untrusted() -> None:
    text = RECORD.to_attribute()
    early = read_failure(text, created_at=FIRST + timedelta(hours=1))
    assert early is not None
    assert "before the event was created" in (early.untrusted or "")
    late = read_failure(text, sent_at=LAST - timedelta(hours=1))
    assert late is not None
    assert "after the message was sent" in (late.untrusted or "")
    within_skew = read_failure(text, sent_at=LAST - timedelta(minutes=1))
    assert within_skew == RECORD


def test_wrong_types_unknown_fields_and_other_shapes_are_untrusted() -> None:
    for text in (
        _forge(attempt="3"),
        _forge(attempt=True),
        _forge(attempt=0),
        _forge(extra=1),
        _forge(reason="Handler Error"),
        _forge(reason="max-receives"),
        _forge(failed_at="2026-11-23T18:04:19Z"),
        _forge(error="x" * 5000),
        "[]",
        "not json",
        '{"reason": "handler-error"}',
    ):
        read = read_failure(text)
        assert read is not None, text
        assert read.reason == UNTRUSTED, text
        assert read.raw == text[:MAX_RAW_CHARS]


def test_deep_or_huge_records_are_refused_in_bounded_time() -> None:
    deep = '{"a":' * 2000 + "1" + "}" * 2000
    read = read_failure(deep)
    assert read is not None
    assert read.reason == UNTRUSTED
    assert "nested deeper" in (read.untrusted or "")
    assert len(read.raw or "") == MAX_RAW_CHARS
    deeper = read_failure('{"a":' * 50_000 + "1" + "}" * 50_000)
    assert deeper is not None
    assert deeper.reason == UNTRUSTED
    huge = read_failure(_forge(error="x" * 100_000))
    assert huge is not None
    assert "longer than" in (huge.untrusted or "")


def test_previous_untrusted_round_trips_and_shows_in_the_dict() -> None:
    record = FailureRecord(**{**RECORD.__dict__, "previous_untrusted": '{"reason":"x"}'})
    assert read_failure(record.to_attribute()) == record
    assert record.to_dict()["previous_untrusted"] == '{"reason":"x"}'
    assert "untrusted" not in RECORD.to_dict()
    assert RECORD.to_dict()["first_failed_at"] == "2026-11-23T18:04:05.120000Z"


@given(st.text(max_size=300))
def test_any_text_reads_as_a_record_or_an_untrusted_one(text: str) -> None:
    read = read_failure(text)
    assert read is None or read.trusted or read.reason == UNTRUSTED
