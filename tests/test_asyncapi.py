"""``bus docs``: the AsyncAPI 3.1 document is valid against the official JSON Schema, complete,
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
SCHEMA = ROOT / "tests" / "asyncapi" / "asyncapi-3.1.0.schema.json"


@pytest.fixture(scope="module")
def asyncapi_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA.read_text())
    assert schema["properties"]["asyncapi"]["const"] == "3.1.0"
    return schema


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    topology, registry = load_registry(ROOT / "topology.yaml")
    return asyncapi_document(topology, registry)


def _errors(schema: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(doc)]


def test_document_is_valid_asyncapi_3_1(
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
    assert payload["eventversion"]["enum"] == [2, "2"]
    assert payload["data"] == {"$ref": "#/components/schemas/OrderPlaced"}
    headers = message["headers"]["properties"]
    assert list(headers) == ["event_type", "event_version", "country", "currency", "total_cents"]
    assert headers["currency"]["enum"] == ["EUR", "USD", "GBP"]
    assert message["correlationId"]["location"] == "$message.payload#/correlationid"
    assert "OrderLine" in document["components"]["schemas"]


def test_previous_versions_have_their_own_payload_schema(document: dict[str, Any]) -> None:
    message = document["components"]["messages"]["OrderPlaced.v1"]
    envelope = _resolve(document, message["payload"])["properties"]
    assert envelope["eventversion"]["enum"] == [1, "1"]
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


def test_servers_for_the_region_and_the_emulator(document: dict[str, Any]) -> None:
    servers = document["servers"]
    assert servers["sqs"]["host"] == "sqs.{region}.amazonaws.com"
    assert servers["sns"]["protocol"] == "sns"
    assert servers["sqs"]["variables"]["region"]["default"] == "us-east-1"
    assert servers["emulator"]["host"] == "localhost:{port}"
    topology, registry = load_registry(ROOT / "topology.yaml")
    regional = asyncapi_document(topology, registry, region="eu-west-1")
    assert regional["servers"]["sns"]["variables"]["region"]["default"] == "eu-west-1"
    assert document["channels"]["queue.billing"]["servers"] == [
        {"$ref": "#/servers/sqs"},
        {"$ref": "#/servers/emulator"},
    ]


def test_every_channel_has_its_own_address(document: dict[str, Any]) -> None:
    addresses = [c["address"] for c in document["channels"].values()]
    assert len(addresses) == len(set(addresses))
    channels = document["channels"]
    assert (
        channels["topic.ledger.fifo"]["address"] == "arn:aws:sns:{region}:{accountId}:ledger.fifo"
    )
    assert (
        channels["queue.ledger.fifo"]["address"] == "arn:aws:sqs:{region}:{accountId}:ledger.fifo"
    )
    assert channels["bus.shop-events"]["address"].endswith(":event-bus/shop-events")
    assert set(channels["queue.ledger.fifo"]["parameters"]) == {"region", "accountId"}


def test_sqs_bindings_carry_queue_attributes_and_dlq(document: dict[str, Any]) -> None:
    sqs = document["channels"]["queue.billing"]["bindings"]["sqs"]
    assert sqs["bindingVersion"] == "0.2.0"
    queue = sqs["queue"]
    assert (queue["name"], queue["fifoQueue"], queue["visibilityTimeout"]) == ("billing", False, 30)
    assert queue["redrivePolicy"] == {
        "deadLetterQueue": {"name": "billing-dlq"},
        "maxReceiveCount": 3,
    }
    assert sqs["deadLetterQueue"]["name"] == "billing-dlq"
    assert sqs["deadLetterQueue"]["messageRetentionPeriod"] == 1_209_600
    ledger = document["channels"]["queue.ledger.fifo"]["bindings"]["sqs"]["queue"]
    assert (ledger["fifoQueue"], ledger["deduplicationScope"]) == (True, "queue")
    receive = document["operations"]["receive.queue.billing"]["bindings"]["sqs"]
    assert receive["queues"][0]["name"] == "billing"


def test_sns_bindings_carry_subscriptions_filter_policies_and_raw_delivery(
    document: dict[str, Any],
) -> None:
    assert document["channels"]["topic.ledger.fifo"]["bindings"]["sns"]["ordering"] == {
        "type": "FIFO",
        "contentBasedDeduplication": False,
    }
    sns = document["operations"]["send.topic.orders"]["bindings"]["sns"]
    consumers = {c["endpoint"]["name"]: c for c in sns["consumers"]}
    assert set(consumers) == {"billing", "shipping", "notifications"}
    assert consumers["billing"]["rawMessageDelivery"] is True
    assert consumers["billing"]["filterPolicy"] == {"event_type": ["OrderPlaced"]}
    assert consumers["billing"]["filterPolicyScope"] == "MessageAttributes"
    assert consumers["notifications"]["rawMessageDelivery"] is False
    assert consumers["notifications"]["filterPolicyScope"] == "MessageBody"
    assert consumers["notifications"]["filterPolicy"] == {"type": ["OrderShipped", "PaymentFailed"]}


def test_a_filter_policy_with_operators_goes_in_an_extension(
    asyncapi_schema: dict[str, Any],
) -> None:
    topology, registry = load_registry(ROOT / "topology.yaml")
    numeric = {"total_cents": [{"numeric": [">=", 100]}]}
    changed = topology.model_copy(
        update={
            "subscriptions": [
                *topology.subscriptions[:1],
                topology.subscriptions[1].model_copy(update={"filter_policy": numeric}),
            ]
        }
    )
    document = asyncapi_document(changed, registry)
    consumer = document["operations"]["send.topic.orders"]["bindings"]["sns"]["consumers"][1]
    assert consumer["x-filterPolicy"] == numeric
    assert "filterPolicy" not in consumer
    assert _errors(asyncapi_schema, document) == []


def test_the_bindings_are_checked_by_the_schema(
    asyncapi_schema: dict[str, Any], document: dict[str, Any]
) -> None:
    broken = json.loads(json.dumps(document))
    del broken["channels"]["queue.billing"]["bindings"]["sqs"]["queue"]["name"]
    broken["operations"]["send.topic.orders"]["bindings"]["sns"]["consumers"] = []
    assert len(_errors(asyncapi_schema, broken)) >= 2


def test_rules_state_the_event_shape_their_pattern_expects(document: dict[str, Any]) -> None:
    rules = document["channels"]["bus.shop-events"]["x-eventbridge-rules"]
    rule = rules["high-value-orders"]
    assert rule["eventPattern"]["detail-type"] == ["OrderPlaced"]
    assert rule["expects"] == (
        "Expects EventBridge events whose Source is the envelope's source, DetailType its type "
        "and Detail the whole bus envelope (CloudEvents, docs/envelope.md) of OrderPlaced v2 "
        "(#/components/schemas/OrderPlaced.v2.envelope); bare event data as Detail has no "
        'detail.data and never matches. Pattern: source: "shop"; detail-type: "OrderPlaced"; '
        "detail.data.total_cents: numeric >= 100000."
    )
    assert rule["targets"][0]["channel"] == {"$ref": "#/channels/queue.fraud-review"}
    assert rule["targets"][0]["deadLetterQueue"] == "events-undelivered"
    assert {"$ref": "#/components/messages/OrderPlaced.eventbridge"} in rule["messages"]
    description = document["channels"]["queue.fraud-review"]["description"]
    assert "Fed by EventBridge rule high-value-orders" in description


def test_the_yaml_has_no_anchors(document: dict[str, Any]) -> None:
    text = render(document)
    assert "&id" not in text
    assert "*id" not in text
    assert yaml.safe_load(text) == document


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
    assert (
        written["channels"]["topic.orders"]["address"]
        == "arn:aws:sns:{region}:{accountId}:dev-orders"
    )
    assert written["channels"]["topic.orders"]["bindings"]["sns"]["name"] == "dev-orders"
    printed = capsys.readouterr().out
    assert f"wrote {target}" in printed
    assert "rule high-value-orders: Expects EventBridge events whose Source" in printed
    assert "detail.data.total_cents: numeric >= 100000." in printed
