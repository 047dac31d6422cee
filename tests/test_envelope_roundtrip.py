"""decode(encode(e)) == e over the three routes, and the real payloads captured from LocalStack.

tests/events/*.json are SQS ReceiveMessage results captured once from LocalStack by
``python -m tests.publish.capture_events``; the SNS and EventBridge wrappers here reuse them as
templates, so the property test exercises the shapes AWS really delivers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.envelope import Envelope, decode, encode_body
from bus.publish.prepare import FlowContext, prepare_routed
from bus.schema import Registry
from bus.topology.load import load_topology
from schemas.orders import OrderLine, OrderPlaced
from tests.publish.scripted import ScriptedPublisher

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def _routing(env: Envelope) -> dict[str, dict[str, str]]:
    return {
        "event_type": {"DataType": "String", "StringValue": env.type},
        "event_version": {"DataType": "Number", "StringValue": str(env.version)},
    }


def as_raw(env: Envelope) -> tuple[str, dict[str, Any]]:
    return encode_body(env), _routing(env)


def as_sns(env: Envelope) -> tuple[str, dict[str, Any]]:
    note = json.loads(sample("sns_in_sqs.json")["Body"])
    note["Message"] = encode_body(env)
    note["MessageAttributes"] = {
        name: {"Type": a["DataType"], "Value": a["StringValue"]}
        for name, a in _routing(env).items()
    }
    return json.dumps(note), {}


def as_eventbridge(env: Envelope) -> tuple[str, dict[str, Any]]:
    event = json.loads(sample("eventbridge_in_sqs.json")["Body"])
    event["detail"] = json.loads(encode_body(env))
    event["detail-type"] = env.type
    event["source"] = env.source
    return json.dumps(event), {}


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
names = st.text(min_size=1, max_size=30)
optional = st.none() | names

envelopes = st.builds(
    Envelope,
    id=names,
    type=names,
    version=st.integers(min_value=1, max_value=10_000),
    source=names,
    time=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    data=st.dictionaries(st.text(max_size=12), json_values, max_size=6),
    correlation_id=optional,
    causation_id=optional,
    traceparent=optional,
)


# No deadline: the suite shares two cores with other suites and LocalStack.
relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@relaxed
@given(envelopes)
def test_raw_roundtrip(env: Envelope) -> None:
    decoded = decode(*as_raw(env))
    assert decoded.envelope == env
    assert decoded.route == "sqs"


@relaxed
@given(envelopes)
def test_sns_in_sqs_roundtrip(env: Envelope) -> None:
    decoded = decode(*as_sns(env))
    assert decoded.envelope == env
    assert decoded.route == "sns"
    assert decoded.attributes["event_type"] == env.type


@relaxed
@given(envelopes)
def test_eventbridge_in_sqs_roundtrip(env: Envelope) -> None:
    decoded = decode(*as_eventbridge(env))
    assert decoded.envelope == env
    assert decoded.route == "eventbridge"
    assert decoded.attributes == {"event_type": env.type, "event_version": str(env.version)}


# -- the captured payloads -----------------------------------------------------------------------

CAPTURED = {
    "sqs_raw.json": "sqs",
    "sns_raw_delivery_in_sqs.json": "sqs",
    "sns_in_sqs.json": "sns",
    "eventbridge_in_sqs.json": "eventbridge",
}


def test_every_captured_payload_decodes_to_the_same_typed_event() -> None:
    registry = Registry.from_topology(load_topology(ROOT / "topology.yaml"), ROOT)
    seen: list[Envelope] = []
    for name, route in CAPTURED.items():
        message = sample(name)
        decoded = decode(
            message["Body"], message.get("MessageAttributes"), message_id=message["MessageId"]
        )
        assert decoded.route == route, name
        env = decoded.envelope
        event = registry.parse(env.type, env.version, env.data)
        assert isinstance(event, OrderPlaced)
        assert event.total_cents == 125_000
        assert env.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        assert env.correlation_id == env.id
        assert decoded.attributes["event_type"] == "OrderPlaced"
        assert decoded.attributes["event_version"] == "2"
        seen.append(env)
    assert all(e == seen[0] for e in seen)  # one publish, four routes, one envelope


def test_captured_attributes_carry_the_exposed_fields() -> None:
    for name in ("sqs_raw.json", "sns_raw_delivery_in_sqs.json", "sns_in_sqs.json"):
        message = sample(name)
        decoded = decode(message["Body"], message.get("MessageAttributes"))
        assert {k: decoded.attributes[k] for k in ("country", "currency", "total_cents")} == {
            "country": "DE",
            "currency": "EUR",
            "total_cents": "125000",
        }, name


# -- the Publisher's own encoding ----------------------------------------------------------------

TEXT = st.characters(blacklist_categories=("Cs",))  # pydantic refuses lone surrogates
ids = st.text(TEXT, min_size=1, max_size=64)
order_lines = st.lists(
    st.builds(
        OrderLine,
        sku=ids,
        quantity=st.integers(min_value=1, max_value=1000),
        unit_price_cents=st.integers(min_value=0, max_value=2**63),
    ),
    max_size=3,
)
orders = st.builds(
    OrderPlaced,
    order_id=ids,
    customer_id=ids,
    lines=order_lines,
    total_cents=st.integers(min_value=0, max_value=2**70),
    currency=st.sampled_from(["EUR", "USD", "GBP"]),
    country=st.from_regex(r"[A-Z]{2}", fullmatch=True),
)
traceparents = st.builds(
    lambda trace, parent, flags: f"00-{trace}-{parent}-{flags:02x}",
    st.integers(min_value=1, max_value=2**128 - 1).map(lambda n: f"{n:032x}"),
    st.integers(min_value=1, max_value=2**64 - 1).map(lambda n: f"{n:016x}"),
    st.integers(min_value=0, max_value=255),
)
contexts = st.builds(
    FlowContext,
    correlation_id=st.none() | st.text(TEXT, min_size=1, max_size=40),
    causation_id=st.none() | st.text(TEXT, min_size=1, max_size=40),
    traceparent=st.none() | traceparents,
)
PUBLISHER = ScriptedPublisher()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders, contexts)
def test_what_the_publisher_sends_decodes_to_the_event_on_every_route(
    event: OrderPlaced, context: FlowContext
) -> None:
    spec = PUBLISHER.registry.event_type_of(event)
    item = prepare_routed(0, PUBLISHER.route(spec), event, context)
    wrapped = {
        "sqs": (item.body, item.attributes),
        "sns": as_sns_body(item.body, item.attributes),
        "eventbridge": as_eventbridge_detail(item.body, spec.source, spec.name),
    }
    for route, (body, attributes) in wrapped.items():
        decoded = decode(body, attributes)
        env = decoded.envelope
        assert decoded.route == route
        assert PUBLISHER.registry.parse(env.type, env.version, env.data) == event
        assert (env.id, env.type, env.version, env.time) == (item.id, "OrderPlaced", 2, item.time)
        assert env.correlation_id == (context.correlation_id or item.id)
        assert (env.causation_id, env.traceparent) == (context.causation_id, context.traceparent)
        if route != "eventbridge":  # EventBridge carries no message attributes
            assert decoded.attributes == {k: a["StringValue"] for k, a in item.attributes.items()}


def as_sns_body(body: str, attributes: dict[str, dict[str, str]]) -> tuple[str, dict[str, Any]]:
    note = json.loads(sample("sns_in_sqs.json")["Body"])
    note["Message"] = body
    note["MessageAttributes"] = {
        name: {"Type": a["DataType"], "Value": a["StringValue"]} for name, a in attributes.items()
    }
    return json.dumps(note), {}


def as_eventbridge_detail(body: str, source: str, detail_type: str) -> tuple[str, dict[str, Any]]:
    event = json.loads(sample("eventbridge_in_sqs.json")["Body"])
    event.update({"detail": json.loads(body), "detail-type": detail_type, "source": source})
    return json.dumps(event), {}
