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
from bus.schema import Registry
from bus.topology.load import load_topology
from schemas.orders import OrderPlaced

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
