"""``bus docs``: the AsyncAPI 3.0 document is valid against the official JSON Schema, complete,
and the committed docs/asyncapi.yaml is up to date.

The official schema (``@asyncapi/specs`` 6.11.1, Apache-2.0) is vendored in ``tests/asyncapi/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bus.asyncapi import asyncapi_document, render
from bus.cli import main
from bus.publish import load_registry

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests" / "asyncapi" / "asyncapi-3.0.0.schema.json"


@pytest.fixture(scope="module")
def asyncapi_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA.read_text())
    assert schema["properties"]["asyncapi"]["const"] == "3.0.0"
    return schema


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    topology, registry = load_registry(ROOT / "topology.yaml")
    return asyncapi_document(topology, registry)


def _errors(schema: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(doc)]


def test_document_is_valid_asyncapi_3(
    asyncapi_schema: dict[str, Any], document: dict[str, Any]
) -> None:
    assert _errors(asyncapi_schema, document) == []


def test_the_validator_does_reject_a_broken_document(
    asyncapi_schema: dict[str, Any], document: dict[str, Any]
) -> None:
    broken = json.loads(json.dumps(document))
    broken["operations"]["send.topic.orders"]["action"] = "publish"  # AsyncAPI 2 wording
    del broken["info"]["version"]
    assert len(_errors(asyncapi_schema, broken)) >= 2


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        return [str(v) for k, v in node.items() if k == "$ref"] + [
            r for v in node.values() for r in _refs(v)
        ]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    for ref in _refs(document):
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            assert part in node, ref
            node = node[part]


def test_channels_and_operations_follow_the_topology(document: dict[str, Any]) -> None:
    channels = document["channels"]
    assert set(channels["topic.orders"]["messages"]) == {
        "OrderPlaced",
        "PaymentCaptured",
        "PaymentFailed",
        "OrderShipped",
    }
    assert set(channels["bus.shop-events"]["messages"]) == {"OrderPlaced"}
    assert set(channels["queue.billing"]["messages"]) == {"OrderPlaced"}
    assert set(channels["queue.shipping"]["messages"]) == {"PaymentCaptured"}
    assert set(channels["queue.notifications"]["messages"]) == {"OrderShipped", "PaymentFailed"}
    assert set(channels["queue.fraud-review"]["messages"]) == {"OrderPlaced"}
    assert channels["queue.billing-dlq"]["description"].endswith("(dead-letter queue).")
    operations = document["operations"]
    assert operations["send.bus.shop-events"]["action"] == "send"
    assert operations["receive.queue.ledger.fifo"]["action"] == "receive"
    assert {o for o in operations if o.startswith("receive.")} == {
        "receive.queue.billing",
        "receive.queue.shipping",
        "receive.queue.notifications",
        "receive.queue.fraud-review",
        "receive.queue.ledger.fifo",
    }


def test_messages_carry_envelope_headers_and_model(document: dict[str, Any]) -> None:
    message = document["components"]["messages"]["OrderPlaced"]
    payload = message["payload"]["properties"]
    assert payload["type"]["const"] == "OrderPlaced"
    assert payload["eventversion"]["const"] == 2
    assert payload["data"] == {"$ref": "#/components/schemas/OrderPlaced"}
    headers = message["headers"]["properties"]
    assert list(headers) == ["event_type", "event_version", "country", "currency", "total_cents"]
    assert headers["currency"]["enum"] == ["EUR", "USD", "GBP"]
    assert message["correlationId"]["location"] == "$message.payload#/correlationid"
    assert "OrderLine" in document["components"]["schemas"]


def test_committed_document_is_up_to_date(document: dict[str, Any]) -> None:
    committed = (ROOT / "docs" / "asyncapi.yaml").read_text()
    assert committed == render(document), "run `bus docs` and commit docs/asyncapi.yaml"
    assert yaml.safe_load(committed) == document


def test_bus_docs_writes_the_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "api.yaml"
    with pytest.raises(SystemExit) as info:
        main(["docs", "-t", str(ROOT / "topology.yaml"), "-o", str(target), "--env", "dev"])
    assert info.value.code == 0
    written = yaml.safe_load(target.read_text())
    assert written["channels"]["topic.orders"]["address"] == "dev-orders"
    assert f"wrote {target}" in capsys.readouterr().out
