"""The envelope codec: building, encoding, attributes, and decoding errors that name the problem."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from pathlib import Path

import pytest
from pydantic import BaseModel

from bus.envelope import (
    Envelope,
    attributes_size,
    decode,
    encode_body,
    message_attributes,
    new_envelope,
    normalise,
)
from bus.errors import DecodeError
from bus.schema import EventSpec
from schemas.orders import OrderPlaced

EVENTS = Path(__file__).resolve().parent / "events"

SPEC = EventSpec(
    name="OrderPlaced",
    version=2,
    model=OrderPlaced,
    source="shop",
    attributes=("country", "currency", "total_cents"),
)
ORDER = OrderPlaced(order_id="o-1", customer_id="c-1", total_cents=125_000, country="DE")


def _env(**changes: object) -> Envelope:
    base = new_envelope(
        SPEC, ORDER, id="e-0", time=datetime(2026, 11, 23, 18, 4, 5, 123456, tzinfo=UTC)
    )
    return Envelope(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_new_envelope_fills_ids_and_metadata() -> None:
    env = new_envelope(SPEC, ORDER)
    assert env.type == "OrderPlaced"
    assert env.version == 2
    assert env.source == "shop"
    assert env.correlation_id == env.id  # a new flow is correlated by its first event
    assert env.causation_id is None
    assert env.time.tzinfo is not None
    assert env.data == ORDER.model_dump(mode="json")
    assert new_envelope(SPEC, ORDER).id != env.id


def test_new_envelope_keeps_flow_context() -> None:
    env = new_envelope(
        SPEC, ORDER, correlation_id="corr", causation_id="cause", traceparent="00-a-b-01"
    )
    assert (env.correlation_id, env.causation_id, env.traceparent) == ("corr", "cause", "00-a-b-01")


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        new_envelope(SPEC, ORDER, time=datetime(2026, 1, 1))


def test_encode_body_is_the_documented_cloudevent() -> None:
    body = json.loads(encode_body(_env(id="e-1", correlation_id="c-9", traceparent="00-t-s-01")))
    assert list(body) == [
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "datacontenttype",
        "eventversion",
        "correlationid",
        "traceparent",
        "data",
    ]
    assert body["specversion"] == "1.0"
    assert body["time"] == "2026-11-23T18:04:05.123456Z"
    assert body["datacontenttype"] == "application/json"
    assert body["eventversion"] == 2
    assert body["data"]["total_cents"] == 125_000


def test_time_is_written_in_utc() -> None:
    local = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    body = json.loads(encode_body(_env(time=local)))
    assert body["time"] == "2026-01-01T10:00:00.000000Z"


def test_message_attributes_of_the_reference_event() -> None:
    env = new_envelope(SPEC, ORDER)
    assert message_attributes(env, SPEC, ORDER) == {
        "event_type": {"DataType": "String", "StringValue": "OrderPlaced"},
        "event_version": {"DataType": "Number", "StringValue": "2"},
        "country": {"DataType": "String", "StringValue": "DE"},
        "currency": {"DataType": "String", "StringValue": "EUR"},
        "total_cents": {"DataType": "Number", "StringValue": "125000"},
    }


class Colour(Enum):
    RED = "red"


class Mixed(BaseModel):
    flag: bool
    price: Decimal
    ratio: float
    tags: list[str]
    colour: Colour
    missing: str | None = None
    empty: str = ""


def test_attribute_types() -> None:
    spec = EventSpec("Mixed", 1, Mixed, "s", attributes=tuple(Mixed.model_fields))
    event = Mixed(flag=True, price=Decimal("12.50"), ratio=0.5, tags=["a", "b"], colour=Colour.RED)
    attrs = message_attributes(new_envelope(spec, event), spec, event)
    assert attrs["flag"] == {"DataType": "String", "StringValue": "true"}
    assert attrs["price"] == {"DataType": "Number", "StringValue": "12.50"}
    assert attrs["ratio"] == {"DataType": "Number", "StringValue": "0.5"}
    assert attrs["tags"] == {"DataType": "String.Array", "StringValue": '["a", "b"]'}
    assert attrs["colour"] == {"DataType": "String", "StringValue": "red"}
    assert "missing" not in attrs
    assert "empty" not in attrs
    assert attributes_size({"ab": {"DataType": "String", "StringValue": "é"}}) == 2 + 6 + 2


def test_normalise_accepts_sqs_sns_and_lambda_shapes() -> None:
    assert normalise(
        {
            "a": {"DataType": "String", "StringValue": "1"},
            "b": {"Type": "Number", "Value": "2"},
            "c": {"dataType": "String", "stringValue": "3"},
            "d": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
            "e": "plain",
        }
    ) == {"a": "1", "b": "2", "c": "3", "d": "AAE=", "e": "plain"}
    assert normalise(None) == {}


# -- decoding errors -----------------------------------------------------------------------------


def _body(**changes: object) -> str:
    obj = json.loads(encode_body(_env()))
    obj.update(changes)
    return json.dumps({k: v for k, v in obj.items() if v is not ...})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "body is not JSON"),
        ("[1, 2]", "body is a JSON list, not an object"),
        ('{"hello": 1}', "not a bus envelope"),
        (_body(specversion="0.3"), "'specversion' must be '1.0'"),
        (_body(id=""), "'id' must be a non-empty string"),
        (_body(type=...), "'type' must be a non-empty string (missing: CloudEvents requires it)"),
        (_body(source=...), "'source' must be a non-empty string (missing"),
        (_body(eventversion="02"), "'eventversion' must be a positive integer"),
        (_body(eventversion="2.0"), "'eventversion' must be a positive integer"),
        (_body(eventversion=" 2"), "'eventversion' must be a positive integer"),
        (_body(eventversion=2.0), "'eventversion' must be a positive integer"),
        (_body(eventversion=2**31), "'eventversion' must be a positive integer"),
        (_body(eventversion=True), "'eventversion' must be a positive integer"),
        (_body(eventversion=0), "'eventversion' must be a positive integer"),
        (_body(data=[1]), "'data' must be a JSON object (got list)"),
        (_body(data=...), "'data' must be a JSON object (missing)"),
        (_body(data_base64="AAE="), "'data_base64' holds binary data"),
        (_body(dataschema="https://x/OrderPlaced.v1.json"), "'eventversion' 2 disagrees"),
        (_body(time=5), "RFC 3339 time with offset"),
        (_body(time="0001-01-01T00:00:00+01:00"), "RFC 3339 time with offset"),
        (_body(time="2026-11-23T18:04:05"), "RFC 3339 time with offset"),
        (_body(time="yesterday"), "RFC 3339 time with offset"),
        (_body(datacontenttype="text/xml"), "'datacontenttype' must be 'application/json'"),
        (_body(datacontenttype=7), "'datacontenttype' must be 'application/json'"),
        (_body(correlationid=5), "'correlationid' must be a non-empty string"),
    ],
)
def test_decode_errors_name_the_problem_and_message(body: str, message: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(body, message_id="m-42")
    assert message in str(info.value)
    assert str(info.value).startswith("message m-42: ")
    assert info.value.message_id == "m-42"


def test_decode_rejects_attributes_that_disagree_with_the_envelope() -> None:
    attrs = {"event_type": {"DataType": "String", "StringValue": "OrderShipped"}}
    with pytest.raises(DecodeError, match="event_type='OrderShipped' disagrees"):
        decode(encode_body(_env()), attrs)


def test_decode_sns_notification_with_bad_message() -> None:
    sample = json.loads(json.loads((EVENTS / "sns_in_sqs.json").read_text())["Body"])
    sample["Message"] = "{broken"
    with pytest.raises(DecodeError, match="Message is not JSON"):
        decode(json.dumps(sample))


def test_decode_eventbridge_detail_type_must_match() -> None:
    sample = json.loads(json.loads((EVENTS / "eventbridge_in_sqs.json").read_text())["Body"])
    sample["detail-type"] = "Other"
    with pytest.raises(DecodeError, match="detail-type 'Other' disagrees"):
        decode(json.dumps(sample))
    sample["detail-type"] = "OrderPlaced"
    sample["detail"] = "text"
    with pytest.raises(DecodeError, match="detail is not a JSON object"):
        decode(json.dumps(sample))


def test_unknown_extension_attributes_are_ignored() -> None:
    decoded = decode(_body(somethingnew="x"))
    assert decoded.envelope == _env()
    assert decoded.route == "sqs"
    assert decoded.attributes == {"event_type": "OrderPlaced", "event_version": "2"}
