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
from bus.topology.model import Subscription

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
        "OrderPlaced.v1",  # still accepted on consume: it may be in flight
        "PaymentCaptured",
        "PaymentFailed",
        "OrderShipped",
    }
    assert set(channels["bus.shop-events"]["messages"]) == {
        "OrderPlaced.eventbridge",
        "OrderPlaced.v1.eventbridge",
    }
    assert set(channels["queue.billing"]["messages"]) == {"OrderPlaced", "OrderPlaced.v1"}
    assert set(channels["queue.shipping"]["messages"]) == {"PaymentCaptured"}
    assert set(channels["queue.notifications"]["messages"]) == {
        "OrderShipped.sns",
        "PaymentFailed.sns",
    }
    assert set(channels["queue.fraud-review"]["messages"]) == {
        "OrderPlaced.eventbridge",
        "OrderPlaced.v1.eventbridge",
    }
    assert channels["queue.billing-dlq"]["description"].endswith("(dead-letter queue).")
    operations = document["operations"]
    assert operations["send.bus.shop-events"]["action"] == "send"
    assert operations["send.topic.orders"]["messages"] == [
        {"$ref": f"#/channels/topic.orders/messages/{m}"}
        for m in ("OrderPlaced", "OrderShipped", "PaymentCaptured", "PaymentFailed")
    ]  # bus publishes the current version only
    assert operations["receive.queue.ledger.fifo"]["action"] == "receive"
    assert {o for o in operations if o.startswith("receive.")} == {
        "receive.queue.billing",
        "receive.queue.shipping",
        "receive.queue.notifications",
        "receive.queue.fraud-review",
        "receive.queue.ledger.fifo",
    }


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in str(node["$ref"]).removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_messages_carry_envelope_headers_and_model(document: dict[str, Any]) -> None:
    message = document["components"]["messages"]["OrderPlaced"]
    payload = _resolve(document, message["payload"])["properties"]
    assert payload["type"]["const"] == "OrderPlaced"
    assert payload["eventversion"]["const"] == 2
    assert payload["data"] == {"$ref": "#/components/schemas/OrderPlaced"}
    headers = message["headers"]["properties"]
    assert list(headers) == ["event_type", "event_version", "country", "currency", "total_cents"]
    assert headers["currency"]["enum"] == ["EUR", "USD", "GBP"]
    assert message["correlationId"]["location"] == "$message.payload#/correlationid"
    assert "OrderLine" in document["components"]["schemas"]


def test_previous_versions_have_their_own_payload_schema(document: dict[str, Any]) -> None:
    message = document["components"]["messages"]["OrderPlaced.v1"]
    envelope = _resolve(document, message["payload"])["properties"]
    assert envelope["eventversion"]["const"] == 1
    assert envelope["data"] == {"$ref": "#/components/schemas/OrderPlacedV1"}
    assert "amount" in document["components"]["schemas"]["OrderPlacedV1"]["properties"]
    assert list(message["headers"]["properties"]) == ["event_type", "event_version", "country"]
    assert message["headers"]["properties"]["event_version"]["const"] == 1


def test_wrapped_deliveries_describe_the_wrapper_without_attribute_headers(
    document: dict[str, Any],
) -> None:
    messages = document["components"]["messages"]
    sns = messages["OrderShipped.sns"]
    assert "headers" not in sns  # SNS puts the attributes in the body, not on the SQS message
    notification = sns["payload"]["properties"]
    assert notification["Type"]["const"] == "Notification"
    assert notification["Message"]["type"] == "string"
    assert notification["Message"]["contentSchema"] == {
        "$ref": "#/components/schemas/OrderShipped.v1.envelope"
    }
    assert set(notification["MessageAttributes"]["properties"]) == {"event_type", "event_version"}
    eventbridge = messages["OrderPlaced.eventbridge"]
    assert "headers" not in eventbridge  # EventBridge carries no message attributes
    event = eventbridge["payload"]["properties"]
    assert (event["detail-type"]["const"], event["source"]["const"]) == ("OrderPlaced", "shop")
    assert event["detail"] == {"$ref": "#/components/schemas/OrderPlaced.v2.envelope"}
    assert eventbridge["correlationId"]["location"] == "$message.payload#/detail/correlationid"


def _check(document: dict[str, Any], instance: object, schema: dict[str, Any]) -> list[str]:
    rooted = {**schema, "components": document["components"]}
    return [e.message for e in jsonschema.Draft7Validator(rooted).iter_errors(instance)]


@pytest.mark.parametrize(
    ("sample", "message_id", "key"),
    [
        ("sqs_raw.json", "OrderPlaced", "type"),
        ("sns_raw_delivery_in_sqs.json", "OrderPlaced", "type"),
        ("sns_in_sqs.json", "OrderPlaced.sns", "Type"),
        ("eventbridge_in_sqs.json", "OrderPlaced.eventbridge", "detail-type"),
    ],
)
def test_captured_bodies_match_the_message_of_their_route(
    sample: str, message_id: str, key: str
) -> None:
    """What LocalStack delivered (tests/events) validates against the message that describes it."""
    topology, registry = load_registry(ROOT / "topology.yaml")
    wrapped = topology.model_copy(  # OrderPlaced also reaches a queue as SNS notifications
        update={
            "queues": {**topology.queues, "audit": topology.queues["shipping"]},
            "subscriptions": [*topology.subscriptions, Subscription(topic="orders", queue="audit")],
        }
    )
    document = asyncapi_document(wrapped, registry)
    assert "OrderPlaced.sns" in document["channels"]["queue.audit"]["messages"]
    message = json.loads((ROOT / "tests" / "events" / sample).read_text())
    body = json.loads(message["Body"])
    described = document["components"]["messages"][message_id]
    assert _check(document, body, described["payload"]) == []
    if message_id.endswith(".sns"):  # Draft 7 does not apply contentSchema: check the string
        envelope = described["payload"]["properties"]["Message"]["contentSchema"]
        assert _check(document, json.loads(body["Message"]), envelope) == []
    if "headers" in described:
        attributes = {
            name: int(a["StringValue"]) if a["DataType"] == "Number" else a["StringValue"]
            for name, a in message["MessageAttributes"].items()
        }
        assert _check(document, attributes, described["headers"]) == []
    assert _check(document, {**body, key: "SomethingElse"}, described["payload"]) != []


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
