"""The DLQ copy of a message and its ``bus.failure`` attribute (pure), within SQS's size limit."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from bus.aws.failure import UNTRUSTED, read_failure
from bus.errors import DecodeError
from bus.worker.deadletter import (
    MAX_ERROR_CHARS,
    dead_letter_attributes,
    dead_letter_entry,
    failure_of,
    message_size,
)
from bus.worker.message import Received

NOW = datetime(2026, 11, 23, 18, 4, 19, 870000, tzinfo=UTC)
MAX_MESSAGE_BYTES = 262_144
"""The DLQs these tests send to allow 256 KiB (the topology default)."""


def message(attributes: dict[str, object] | None = None, **system: str) -> Received:
    return Received(
        message_id="5fea7756",
        receipt_handle="r",
        body='{"specversion": "1.0"}',
        attributes=attributes or {},
        system={"ApproximateReceiveCount": "1", **system},
    )


def string(value: str) -> dict[str, object]:
    return {
        "DataType": "String",
        "StringValue": value,
        "StringListValues": [],
        "BinaryListValues": [],
    }


def test_failure_records_why_where_and_when() -> None:
    failure = failure_of(
        message(), "decode-error", DecodeError("bad", message_id="m"), "dev-billing", NOW
    )
    assert json.loads(failure.to_attribute()) == {
        "reason": "decode-error",
        "error_type": "bus.errors.DecodeError",
        "error": "message m: bad",
        "attempt": 1,
        "queue": "dev-billing",
        "message_id": "5fea7756",
        "first_failed_at": "2026-11-23T18:04:19.870000Z",
        "failed_at": "2026-11-23T18:04:19.870000Z",
    }
    assert read_failure(failure.to_attribute()) == failure


def test_errors_are_truncated_and_builtins_unqualified() -> None:
    failure = failure_of(message(), "handler-error", ValueError("x" * 5000), "q", NOW)
    assert failure.error_type == "ValueError"
    assert len(failure.error) == MAX_ERROR_CHARS


def test_first_failure_survives_redrives_and_earlier_receives() -> None:
    earlier = failure_of(
        message(), "handler-error", ValueError("v"), "q", datetime(2026, 1, 1, tzinfo=UTC)
    )
    redriven = message({"bus.failure": string(earlier.to_attribute())})
    assert failure_of(redriven, "rejected", ValueError("v"), "q", NOW).first_failed_at == (
        datetime(2026, 1, 1, tzinfo=UTC)
    )
    third = message(ApproximateReceiveCount="3", ApproximateFirstReceiveTimestamp="1795457045120")
    failure = failure_of(third, "handler-error", ValueError("v"), "q", NOW)
    assert (failure.attempt, failure.first_failed_at) == (
        3,
        datetime(2026, 11, 23, 18, 4, 5, 120000, tzinfo=UTC),
    )


def test_a_forged_record_is_not_trusted_but_kept_as_previous_untrusted() -> None:
    genuine = failure_of(message(), "handler-error", ValueError("v"), "q", NOW)
    forged = genuine.to_attribute().replace("2026-11-23T18:04:19", "1970-01-01T00:00:00", 1)
    msg = message({"bus.failure": string(forged)}, ApproximateFirstReceiveTimestamp="1795457059870")
    failure = failure_of(msg, "handler-error", ValueError("v"), "q", NOW)
    assert failure.first_failed_at == NOW
    assert failure.previous_untrusted == forged
    assert failure.trusted
    entry = dead_letter_entry(msg, failure, fifo=False)
    written = read_failure(entry["MessageAttributes"]["bus.failure"]["StringValue"])
    assert written == failure


def test_a_record_older_than_its_event_is_not_trusted() -> None:
    earlier = failure_of(
        message(), "handler-error", ValueError("v"), "q", datetime(2026, 1, 1, tzinfo=UTC)
    )
    redriven = message({"bus.failure": string(earlier.to_attribute())})
    created = datetime(2026, 6, 1, tzinfo=UTC)
    failure = failure_of(redriven, "rejected", ValueError("v"), "q", NOW, created_at=created)
    assert failure.first_failed_at == NOW
    assert failure.previous_untrusted == earlier.to_attribute()
    untrusted = read_failure(earlier.to_attribute(), created_at=created)
    assert untrusted is not None
    assert untrusted.reason == UNTRUSTED


def test_routing_attributes_come_first_and_the_total_stays_within_ten() -> None:
    attrs = {f"field{i}": string(str(i)) for i in range(12)}
    attrs["event_version"] = {"DataType": "Number", "StringValue": "2"}
    attrs["event_type"] = string("OrderPlaced")
    attrs["bus.failure"] = string("{old}")
    failure = failure_of(message(), "handler-error", ValueError("v"), "q", NOW)
    out = dead_letter_attributes(message(attrs), failure, None, None)
    assert list(out)[:2] == ["event_type", "event_version"]
    assert len(out) == 10
    assert out["bus.failure"]["StringValue"] == failure.to_attribute()
    assert out["event_type"] == {"DataType": "String", "StringValue": "OrderPlaced"}


def test_routing_attributes_are_added_when_the_route_carried_none() -> None:
    failure = failure_of(message(), "handler-error", ValueError("v"), "q", NOW)
    out = dead_letter_attributes(message(), failure, "OrderShipped", 1)
    assert out["event_type"]["StringValue"] == "OrderShipped"
    assert out["event_version"] == {"DataType": "Number", "StringValue": "1"}


def test_fifo_copies_keep_the_group_and_deduplicate_per_source_message() -> None:
    msg = message(MessageGroupId="acct-1", MessageDeduplicationId="event-id")
    failure = failure_of(msg, "handler-error", ValueError("v"), "q", NOW)
    entry = dead_letter_entry(msg, failure, fifo=True)
    assert (entry["MessageGroupId"], entry["MessageDeduplicationId"]) == ("acct-1", "5fea7756")
    assert entry["MessageBody"] == msg.body
    assert "MessageGroupId" not in dead_letter_entry(msg, failure, fifo=False)


@given(st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=30), max_size=20))
def test_never_more_than_ten_attributes(values: dict[str, str]) -> None:
    attrs = {k: string(v) for k, v in values.items()}
    failure = failure_of(message(), "handler-error", ValueError("v"), "q", NOW)
    out = dead_letter_attributes(message(attrs), failure, "T", 1)
    assert len(out) <= 10
    assert "bus.failure" in out
    assert "event_type" in out


def _near_the_limit(attributes: dict[str, object], room: int) -> Received:
    """A message whose body and attributes leave ``room`` bytes of a 256 KiB DLQ."""
    size = message_size("", attributes)  # type: ignore[arg-type]
    return Received(
        message_id="5fea7756",
        receipt_handle="r",
        body="x" * (MAX_MESSAGE_BYTES - size - room),
        attributes=attributes,
        system={"ApproximateReceiveCount": "3"},
    )


def test_a_copy_near_the_size_limit_gets_a_shorter_error_and_fits() -> None:
    attrs = {"event_type": string("OrderPlaced"), "country": string("DE")}
    msg = _near_the_limit(attrs, room=400)
    failure = failure_of(msg, "handler-error", ValueError("é" * 5000), "q", NOW)
    entry = dead_letter_entry(msg, failure, fifo=False)
    assert message_size(entry["MessageBody"], entry["MessageAttributes"]) <= MAX_MESSAGE_BYTES
    kept = read_failure(entry["MessageAttributes"]["bus.failure"]["StringValue"])
    assert kept is not None
    assert kept.error is not None
    assert failure.error is not None
    assert 0 < len(kept.error) < len(failure.error)
    assert kept.error.endswith("...")
    assert (kept.reason, kept.attempt, kept.error_type) == ("handler-error", 3, "ValueError")
    assert set(entry["MessageAttributes"]) == {"event_type", "country", "bus.failure"}


def test_when_the_error_text_is_not_enough_other_attributes_give_way() -> None:
    attrs = {"event_type": string("OrderPlaced"), "note": string("n" * 500)}
    msg = _near_the_limit(attrs, room=10)
    failure = failure_of(msg, "handler-error", ValueError("v" * 100), "q", NOW)
    entry = dead_letter_entry(msg, failure, fifo=False)
    assert message_size(entry["MessageBody"], entry["MessageAttributes"]) <= MAX_MESSAGE_BYTES
    assert set(entry["MessageAttributes"]) == {"event_type", "bus.failure"}


def test_a_copy_with_room_to_spare_is_left_whole() -> None:
    msg = message({"event_type": string("OrderPlaced")})
    failure = failure_of(msg, "handler-error", ValueError("v" * 900), "q", NOW)
    entry = dead_letter_entry(msg, failure, fifo=False)
    assert entry["MessageAttributes"]["bus.failure"]["StringValue"] == failure.to_attribute()


def test_an_original_that_alone_nearly_fills_the_limit_goes_without_the_record() -> None:
    msg = _near_the_limit({"event_type": string("OrderPlaced")}, room=0)
    failure = failure_of(msg, "handler-error", ValueError("v" * 100), "q", NOW)
    entry = dead_letter_entry(msg, failure, fifo=False)
    assert message_size(entry["MessageBody"], entry["MessageAttributes"]) <= MAX_MESSAGE_BYTES
    assert set(entry["MessageAttributes"]) == {"event_type"}


def test_a_dlq_that_allows_1_mib_keeps_the_whole_record_of_a_large_original() -> None:
    msg = _near_the_limit({"event_type": string("OrderPlaced")}, room=0)
    failure = failure_of(msg, "handler-error", ValueError("v" * 900), "q", NOW)
    entry = dead_letter_entry(msg, failure, fifo=False, max_bytes=1_048_576)
    assert entry["MessageAttributes"]["bus.failure"]["StringValue"] == failure.to_attribute()
    small = dead_letter_entry(msg, failure, fifo=False)
    assert "bus.failure" not in small["MessageAttributes"]


@given(st.integers(1024, 1_048_576), st.integers(0, 5000), st.integers(0, 3000))
def test_a_copy_always_fits_its_dlq(max_bytes: int, body: int, error: int) -> None:
    msg = Received(
        message_id="m",
        receipt_handle="r",
        body="b" * min(body, max_bytes - 100),
        attributes={"event_type": string("T"), "note": string("n" * 200)},
        system={"ApproximateReceiveCount": "1"},
    )
    failure = failure_of(msg, "handler-error", ValueError("é" * error), "q", NOW)
    entry = dead_letter_entry(msg, failure, fifo=False, max_bytes=max_bytes)
    assert message_size(entry["MessageBody"], entry["MessageAttributes"]) <= max_bytes
