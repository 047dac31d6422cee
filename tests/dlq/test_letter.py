"""Reading a dead letter: lenient unwrapping and the ``bus.failure`` attribute (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bus.aws.failure import UNTRUSTED, FailureRecord
from bus.dlq.letter import MAX_RECEIVES, from_sqs, unwrap

ENVELOPE = {
    "specversion": "1.0",
    "id": "0f8e2d4c-6a3b-4f0e-9d61-2b7f3c1a9e55",
    "source": "shop",
    "type": "OrderPlaced",
    "time": "2026-11-23T18:04:05.123456Z",
    "datacontenttype": "application/json",
    "eventversion": 2,
    "data": {"order_id": "o-1", "total_cents": 125000},
}
FAILURE = {
    "reason": "handler-error",
    "error_type": "billing.PaymentDeclined",
    "error": "card declined for order o-17",
    "attempt": 3,
    "queue": "dev-billing",
    "message_id": "5fea7756-0ea4-451a-a703-a558b933e274",
    "first_failed_at": "2026-11-23T18:04:05.120000Z",
    "failed_at": "2026-11-23T18:04:19.870000Z",
}


def message(body: str, failure: dict[str, Any] | None = None, **system: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {"event_type": {"DataType": "String", "StringValue": "OrderPlaced"}}
    if failure is not None:
        attrs["bus.failure"] = {"DataType": "String", "StringValue": json.dumps(failure)}
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "rh",
        "Body": body,
        "MessageAttributes": attrs,
        "Attributes": {"ApproximateReceiveCount": "4", "SentTimestamp": "1795458181852", **system},
    }


def test_raw_envelope_with_failure() -> None:
    letter = from_sqs(message(json.dumps(ENVELOPE), FAILURE, MessageGroupId="g"))
    assert letter.wrapper == "raw"
    assert letter.decode_error is None
    assert (letter.event_type, letter.event_version, letter.event_id) == (
        "OrderPlaced",
        2,
        ENVELOPE["id"],
    )
    assert letter.data == ENVELOPE["data"]
    assert letter.receive_count == 4
    assert letter.group_id == "g"
    assert letter.failure.reason == "handler-error"
    assert letter.failure.attempt == 3
    assert letter.failure.queue == "dev-billing"
    assert letter.failure.first_failed_at == datetime(2026, 11, 23, 18, 4, 5, 120000, tzinfo=UTC)
    assert letter.died_at == letter.failure.failed_at
    assert letter.sent_at == datetime.fromtimestamp(1795458181.852, tz=UTC)


def test_sns_and_eventbridge_wrappers() -> None:
    sns = {
        "Type": "Notification",
        "MessageId": "x",
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:dev-orders",
        "Message": json.dumps(ENVELOPE),
    }
    assert unwrap(json.dumps(sns))[:2] == (ENVELOPE, "sns")
    eb = {
        "version": "0",
        "id": "e",
        "detail-type": "OrderPlaced",
        "source": "shop",
        "detail": ENVELOPE,
    }
    assert unwrap(json.dumps(eb))[:2] == (ENVELOPE, "eventbridge")


def test_garbage_is_kept_not_raised() -> None:
    letter = from_sqs(message("{not json"))
    assert letter.envelope is None
    assert letter.decode_error is not None
    assert letter.decode_error.startswith("body is not JSON")
    assert letter.body == "{not json"
    assert letter.event_type == "OrderPlaced"  # from the message attribute
    assert letter.event_id is None
    assert unwrap('{"a": 1}')[0] is None
    assert unwrap("[1, 2]")[0] is None


def test_without_failure_attribute_the_reason_is_max_receives() -> None:
    letter = from_sqs(message(json.dumps(ENVELOPE)))
    assert letter.failure == FailureRecord()
    assert letter.failure.reason == MAX_RECEIVES == "max-receives"
    assert letter.died_at == letter.sent_at


def test_unreadable_or_forged_failure_attributes_are_untrusted_and_kept() -> None:
    forged = {**FAILURE, "first_failed_at": "1970-01-01T00:00:00.000000Z"}
    for record in ("{oops", "[1]", json.dumps({"reason": "rejected", "attempt": "x"}), forged):
        raw = record if isinstance(record, str) else json.dumps(record)
        letter = from_sqs(
            {**message(json.dumps(ENVELOPE)), "MessageAttributes": {"bus.failure": string(raw)}}
        )
        assert letter.failure.reason == UNTRUSTED
        assert letter.failure.raw == raw
        assert letter.failure.untrusted
        assert letter.failure.queue is None  # never routed by a record it does not trust
        assert letter.died_at == letter.sent_at


def test_a_record_dated_after_its_copy_was_sent_is_untrusted() -> None:
    late = {**FAILURE, "failed_at": "2027-01-01T00:00:00.000000Z"}
    letter = from_sqs(message(json.dumps(ENVELOPE), late))
    assert letter.failure.reason == UNTRUSTED
    assert "after the message was sent" in (letter.failure.untrusted or "")


def test_failure_round_trips_through_json() -> None:
    letter = from_sqs(message(json.dumps(ENVELOPE), FAILURE))
    assert letter.failure.to_dict() == FAILURE


def string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def test_printing_escapes_what_would_break_the_output_or_drive_the_terminal() -> None:
    from bus.cli.dlq_output import printable

    assert printable("ok é\n\tnext") == "ok é\n\tnext"
    assert printable("bad \ud800 text") == "bad \\ud800 text"
    assert printable("\x1b[31mred") == "\\x1b[31mred"
    printable("\ud800\x1b").encode("utf-8")


def test_a_deeply_nested_body_is_kept_raw_with_its_reason() -> None:
    deep = '{"a":' * 5000 + "1" + "}" * 5000
    letter = from_sqs(message(deep))
    assert letter.envelope is None
    assert (
        letter.decode_error
        == "body nests JSON objects and arrays more than 64 levels deep (the decoder's limit)"
    )
    assert letter.body == deep
