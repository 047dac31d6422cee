"""What producers that do not use bus send: accepted when CloudEvents allows it, refused with a
text that names the real problem otherwise (issue 15)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bus.envelope import decode
from bus.errors import DecodeError
from bus.schema import EventSpec, Registry
from schemas.orders import OrderPlaced, OrderPlacedV1, upcast_order_placed_v1

EVENTS = Path(__file__).resolve().parent / "events"
DATA = {"order_id": "o-1", "customer_id": "c-1", "total_cents": 125_000, "country": "DE"}
MINIMAL = {  # the four attributes CloudEvents requires, and data
    "specversion": "1.0",
    "id": "ext-1",
    "source": "urn:example:legacy-shop",
    "type": "OrderPlaced",
    "data": DATA,
}


def _sample(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.loads((EVENTS / name).read_text())["Body"])
    return body


def _registry() -> Registry:
    from bus.schema.registry import PreviousVersion

    spec = EventSpec(
        name="OrderPlaced",
        version=2,
        model=OrderPlaced,
        source="shop",
        previous_versions=(PreviousVersion(1, OrderPlacedV1, upcast_order_placed_v1),),
    )
    return Registry([spec])


# -- accepted ------------------------------------------------------------------------------------


def test_a_minimal_cloudevent_decodes_without_time_or_version() -> None:
    env = decode(json.dumps(MINIMAL)).envelope
    assert (env.id, env.source, env.type, env.data) == (
        "ext-1",
        MINIMAL["source"],
        "OrderPlaced",
        DATA,
    )
    assert env.time is None
    assert env.version is None
    assert env.correlation_id is None


def test_an_envelope_without_version_is_parsed_as_the_current_version() -> None:
    env = decode(json.dumps(MINIMAL)).envelope
    event = _registry().parse(env.type, env.version, env.data)
    assert isinstance(event, OrderPlaced)
    assert event.total_cents == 125_000


def test_dataschema_names_the_version() -> None:
    old = {"order_id": "o-1", "customer_id": "c-1", "amount": "1250.00", "country": "DE"}
    for schema in (
        "https://schemas.example.com/shop/OrderPlaced.v1.json",
        "urn:shop:OrderPlaced:v1",
        "https://schemas.example.com/shop/OrderPlaced/v1",
    ):
        env = decode(json.dumps({**MINIMAL, "dataschema": schema, "data": old})).envelope
        assert env.version == 1, schema
        assert env.dataschema == schema
    unnamed = decode(json.dumps({**MINIMAL, "dataschema": "https://x.example/order"})).envelope
    assert unnamed.version is None


def test_eventversion_as_a_canonical_string_is_read_as_its_integer() -> None:
    assert decode(json.dumps({**MINIMAL, "eventversion": "2"})).envelope.version == 2
    assert decode(json.dumps({**MINIMAL, "eventversion": 1})).envelope.version == 1


def test_the_event_version_attribute_gives_the_version_an_envelope_leaves_out() -> None:
    attrs = {"event_version": {"DataType": "Number", "StringValue": "1"}}
    assert decode(json.dumps(MINIMAL), attrs).envelope.version == 1
    with pytest.raises(DecodeError, match=r"event_version='1\.0' is not a positive integer"):
        decode(json.dumps(MINIMAL), {"event_version": {"DataType": "Number", "StringValue": "1.0"}})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-11-23T18:04:05Z", datetime(2026, 11, 23, 18, 4, 5, tzinfo=UTC)),
        ("2026-11-23t18:04:05z", datetime(2026, 11, 23, 18, 4, 5, tzinfo=UTC)),
        (
            "2026-11-23T19:04:05.123456789+01:00",
            datetime(2026, 11, 23, 18, 4, 5, 123456, tzinfo=UTC),
        ),
        ("2026-11-23T18:04:05.1Z", datetime(2026, 11, 23, 18, 4, 5, 100000, tzinfo=UTC)),
    ],
)
def test_rfc3339_times_from_other_languages(given: str, expected: datetime) -> None:
    assert decode(json.dumps({**MINIMAL, "time": given})).envelope.time == expected


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "text/json", "application/vnd.shop+json"]
)
def test_json_media_types_are_accepted(content_type: str) -> None:
    assert decode(json.dumps({**MINIMAL, "datacontenttype": content_type})).envelope.data == DATA


def test_a_plain_cloudevent_on_every_route() -> None:
    """A CloudEvent from the SDK (reverse-DNS type, URI source, extension of its own) decodes; the
    registry, not the decoder, says whether bus knows its type."""
    plain = {**MINIMAL, "type": "com.example.order.placed", "comexampleext": "x", "subject": "o-1"}
    sns = _sample("sns_in_sqs.json")
    sns["Message"] = json.dumps(plain)
    sns["MessageAttributes"] = {}
    eventbridge = _sample("eventbridge_in_sqs.json")
    eventbridge.update({"detail": plain, "detail-type": plain["type"], "source": plain["source"]})
    for body, route in ((plain, "sqs"), (sns, "sns"), (eventbridge, "eventbridge")):
        decoded = decode(json.dumps(body))
        assert decoded.route == route
        assert decoded.envelope.type == "com.example.order.placed"
        assert decoded.envelope.subject == "o-1"


# -- refused, naming the real problem ------------------------------------------------------------


def test_bare_data_on_sqs() -> None:
    with pytest.raises(DecodeError) as info:
        decode(json.dumps(DATA), message_id="m-1")
    text = str(info.value)
    assert text.startswith("message m-1: body is not a bus envelope: no 'specversion'")
    assert "keys: country, customer_id, order_id, total_cents" in text
    assert "wrapped in a CloudEvents 1.0 envelope" in text


def test_bare_data_on_sns() -> None:
    sns = _sample("sns_in_sqs.json")
    sns["Message"] = json.dumps(DATA)
    with pytest.raises(DecodeError) as info:
        decode(json.dumps(sns))
    assert "SNS notification's Message is not a bus envelope: no 'specversion'" in str(info.value)
    assert "keys: country, customer_id" in str(info.value)


def test_bare_detail_on_eventbridge() -> None:
    event = _sample("eventbridge_in_sqs.json")
    event["detail"] = DATA
    with pytest.raises(DecodeError) as info:
        decode(json.dumps(event))
    text = str(info.value)
    assert "detail-type 'OrderPlaced'): detail is not a bus envelope: no 'specversion'" in text
    assert "disagrees" not in text


def test_envelope_in_detail_with_a_wrong_detail_type() -> None:
    event = _sample("eventbridge_in_sqs.json")
    event["detail-type"] = "Order Placed"
    with pytest.raises(
        DecodeError,
        match="detail-type 'Order Placed' disagrees with the envelope's type 'OrderPlaced'",
    ):
        decode(json.dumps(event))


def test_a_cloudevents_batch() -> None:
    with pytest.raises(DecodeError, match="a CloudEvents batch"):
        decode(json.dumps([MINIMAL, MINIMAL]))


def test_a_cloudevent_with_binary_data() -> None:
    body = {k: v for k, v in MINIMAL.items() if k != "data"}
    with pytest.raises(DecodeError, match="'data_base64' holds binary data"):
        decode(json.dumps({**body, "data_base64": "AAE="}))


def test_an_older_cloudevents_version() -> None:
    with pytest.raises(DecodeError, match=r"'specversion' must be '1\.0' \(got '0\.3'\)"):
        decode(json.dumps({**MINIMAL, "specversion": "0.3"}))
