"""Selections: options and expressions pick exactly the right dead letters (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bus.aws.failure import FailureRecord
from bus.dlq.letter import DlqMessage, from_sqs
from bus.dlq.select import Selection, parse_duration
from bus.errors import FilterError

NOW = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)


def letter(
    n: int, event_type: str, reason: str | None, died_hours_ago: float, **data: Any
) -> DlqMessage:
    envelope = {
        "specversion": "1.0",
        "id": f"e-{n}",
        "source": "shop",
        "type": event_type,
        "time": "2026-11-21T00:00:00.000000Z",
        "eventversion": 1,
        "data": data,
    }
    attrs: dict[str, Any] = {"event_type": {"DataType": "String", "StringValue": event_type}}
    died = NOW - timedelta(hours=died_hours_ago)
    if reason is not None:
        failure = FailureRecord(
            reason=reason,
            error_type="ValueError",
            error=f"boom {n}",
            attempt=n,
            queue="dev-billing",
            message_id=f"src-{n}",
            first_failed_at=died,
            failed_at=died,
        )
        attrs["bus.failure"] = {"DataType": "String", "StringValue": failure.to_attribute()}
    sent_ms = str(int((NOW - timedelta(hours=died_hours_ago)).timestamp() * 1000))
    return from_sqs(
        {
            "MessageId": f"m-{n}",
            "ReceiptHandle": "rh",
            "Body": json.dumps(envelope),
            "MessageAttributes": attrs,
            "Attributes": {"ApproximateReceiveCount": str(n), "SentTimestamp": sent_ms},
        }
    )


LETTERS = [
    letter(1, "OrderPlaced", "handler-error", 0.5, total_cents=500, country="DE"),
    letter(2, "OrderPlaced", "handler-error", 3, total_cents=150_000, country="FR"),
    letter(3, "OrderPlaced", "validation-error", 30, total_cents=-1),
    letter(4, "PaymentFailed", "rejected", 2, order_id="o-4"),
    letter(5, "PaymentFailed", None, 50, order_id="o-5"),
]


def chosen(selection: Selection) -> list[int]:
    return [int(d.message_id[2:]) for d in LETTERS if selection.matches(d, NOW)]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, [1, 2, 3, 4, 5]),
        ({"event_types": ["PaymentFailed"]}, [4, 5]),
        ({"reasons": ["handler-error", "max-receives"]}, [1, 2, 5]),
        ({"event_ids": ["e-3", "e-4", "nope"]}, [3, 4]),
        ({"older_than": "1h"}, [2, 3, 4, 5]),
        ({"newer_than": "2.5h"}, [1, 4]),
        ({"older_than": "1h", "newer_than": "1d"}, [2, 4]),
        ({"filter": 'type == "OrderPlaced" and data.total_cents > 1000'}, [2]),
        ({"filter": 'failure.reason == "handler-error"', "event_types": ["OrderPlaced"]}, [1, 2]),
        ({"filter": "data.total_cents < 0 or failure.error == null"}, [3, 5]),
        ({"filter": 'data.country in ["DE", "FR"] and age < 1h'}, [1]),
        ({"filter": "receive_count >= 4"}, [4, 5]),
        ({"filter": 'message_id == "m-2" or id == "e-5"'}, [2, 5]),
        ({"filter": 'attributes.event_type == "PaymentFailed"'}, [4, 5]),
        ({"filter": 'failure.queue == "dev-billing" and version == 1'}, [1, 2, 3, 4]),
        ({"filter": 'body contains "o-5"'}, [5]),
        ({"filter": "data"}, [1, 2, 3, 4, 5]),
    ],
)
def test_selects_exactly(kwargs: dict[str, Any], expected: list[int]) -> None:
    assert chosen(Selection.build(**kwargs)) == expected


def test_empty_selection_is_everything() -> None:
    assert Selection.build().everything
    assert not Selection.build(reasons=["rejected"]).everything
    assert Selection.build().describe() == "every message"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('tpye == "x"', "unknown name 'tpye'"),
        ('failure.reasn == "x"', "unknown failure field 'reasn'"),
        ('failure == "x"', "'failure' needs a field"),
        ("age.x > 1", "'age' has no fields"),
    ],
)
def test_names_are_checked_when_parsing(source: str, message: str) -> None:
    with pytest.raises(FilterError, match=message) as info:
        Selection.build(source)
    assert info.value.position is not None


def test_durations() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("15m") == 900
    assert parse_duration("2h") == 7200
    assert parse_duration("1.5d") == 129_600
    with pytest.raises(FilterError, match="--older-than: 'soon' is not a duration"):
        Selection.build(older_than="soon")


@pytest.mark.timeout(10)
def test_a_catastrophic_pattern_against_a_250_kib_body_finishes() -> None:
    big = letter(9, "OrderPlaced", "handler-error", 1, note="a" * 250 * 1024 + "!")
    assert len(big.body) > 250 * 1024
    cases = {"(a+)+$": False, '(a|aa)+!"': True, '"note": "(a*)*b': False}
    for pattern, expected in cases.items():
        selection = Selection.build(f"body matches '{pattern}'")
        assert selection.matches(big, NOW) is expected, pattern


def test_a_filter_nested_too_deep_is_a_filter_error() -> None:
    with pytest.raises(FilterError, match="at position 33: nested deeper than 32 levels"):
        Selection.build("(" * 199 + 'type == "x"' + ")" * 199)
