"""``bus schemas export`` writes the whole envelope's JSON Schema per event version: what bus
publishes, and any CloudEvent bus's decoder accepts, validate against it; bare data does not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bus.envelope import decode, encode_body, new_envelope
from bus.publish import load_registry
from bus.schema import envelope_json_schema, export_envelopes
from schemas.orders import OrderPlaced

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    _, registry = load_registry(ROOT / "topology.yaml")
    out = envelope_json_schema(registry.spec("OrderPlaced"), 2)
    jsonschema.Draft202012Validator.check_schema(out)
    return out


def _errors(schema: dict[str, Any], instance: object) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [e.message for e in validator.iter_errors(instance)]


def test_what_bus_publishes_validates(schema: dict[str, Any]) -> None:
    _, registry = load_registry(ROOT / "topology.yaml")
    order = OrderPlaced(order_id="o-1", customer_id="c-1", total_cents=1, country="DE")
    body = json.loads(encode_body(new_envelope(registry.spec("OrderPlaced"), order)))
    assert _errors(schema, body) == []
    captured = json.loads(json.loads((EVENTS / "sqs_raw.json").read_text())["Body"])
    assert _errors(schema, captured) == []


def test_a_minimal_cloudevent_the_decoder_accepts_validates(schema: dict[str, Any]) -> None:
    event = {
        "specversion": "1.0",
        "id": "x-1",
        "source": "urn:example:legacy",
        "type": "OrderPlaced",
        "eventversion": "2",
        "data": {"order_id": "o-1", "customer_id": "c-1", "total_cents": 5, "country": "DE"},
    }
    assert _errors(schema, event) == []
    decode(json.dumps(event))  # and the decoder agrees


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"type": "OrderShipped"}, "'OrderPlaced' was expected"),
        ({"eventversion": 1}, "is not one of [2, '2']"),
        ({"data": {"order_id": "o-1"}}, "'customer_id' is a required property"),
        ({"data_base64": "AAE="}, "does not match"),
        ({"Bad_Name": 1}, "does not match"),
        ({"traceparent": "nope"}, "does not match"),
    ],
)
def test_wrong_envelopes_are_refused(
    schema: dict[str, Any], change: dict[str, Any], why: str
) -> None:
    captured = json.loads(json.loads((EVENTS / "sqs_raw.json").read_text())["Body"])
    errors = _errors(schema, {**captured, **change})
    assert any(why in e for e in errors), errors


def test_bare_data_is_refused(schema: dict[str, Any]) -> None:
    data = {"order_id": "o-1", "customer_id": "c-1", "total_cents": 5, "country": "DE"}
    assert "'specversion' is a required property" in _errors(schema, data)


def test_export_writes_one_envelope_per_version(tmp_path: Path) -> None:
    _, registry = load_registry(ROOT / "topology.yaml")
    paths = export_envelopes(registry, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths][:3] == [
        "envelopes/LedgerEntry.v1.json",
        "envelopes/OrderPlaced.v1.json",
        "envelopes/OrderPlaced.v2.json",
    ]
    v1 = json.loads((tmp_path / "envelopes" / "OrderPlaced.v1.json").read_text())
    assert v1["properties"]["eventversion"]["enum"] == [1, "1"]
    assert "amount" in v1["properties"]["data"]["properties"]
