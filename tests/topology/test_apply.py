"""The reference topology applied from empty to LocalStack, and what AWS then does with it.

One environment per module (applied once): fan-out through filter policies, the EventBridge rule's
pattern, SQS's redrive to the DLQ after ``max_receive_count`` receives, the queue access policies,
encryption at rest, tags, and a second apply that finds nothing to do.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bus.aws import AwsClients
from bus.settings import Settings
from bus.topology.apply import converge, make_plan
from bus.topology.load import load_topology
from bus.topology.plan import Create, Plan
from bus.topology.resolve import Names

pytestmark = pytest.mark.aws

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = load_topology(ROOT / "topology.yaml")


@pytest.fixture(scope="module")
def env() -> str:
    return "t" + uuid.uuid4().hex[:8]


@pytest_asyncio.fixture(scope="module")
async def aws(bus_settings: Settings) -> AsyncIterator[AwsClients]:
    async with AwsClients(bus_settings) as clients:
        yield clients


@pytest_asyncio.fixture(scope="module")
async def applied(aws: AwsClients, env: str) -> Plan:
    return await converge(aws, REFERENCE, env)


@pytest_asyncio.fixture(scope="module")
async def names(aws: AwsClients, env: str) -> Names:
    return Names(REFERENCE, env, await aws.account())


async def url(aws: AwsClients, names: Names, queue: str) -> str:
    return (await aws.sqs.get_queue_url(QueueName=names.queue(queue)))["QueueUrl"]


async def receive_all(
    aws: AwsClients, queue_url: str, expected: int, *, within: float = 10.0
) -> list[dict[str, Any]]:
    """Receive (and delete) until ``expected`` messages came, then once more to catch extras."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    while True:
        enough = len(got) >= expected
        page = await aws.sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        )
        messages = page.get("Messages", [])
        for message in messages:
            await aws.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        got += messages
        if (enough and not messages) or time.monotonic() > deadline:
            return got


def envelope(event_type: str, **data: Any) -> str:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "shop",
            "type": event_type,
            "time": "2026-11-23T18:04:05.123456Z",
            "datacontenttype": "application/json",
            "eventversion": 1,
            "correlationid": str(uuid.uuid4()),
            "data": data,
        }
    )


def event_type_of(message: dict[str, Any], *, raw: bool) -> str:
    body = json.loads(message["Body"])
    envelope_ = body if raw else json.loads(body["Message"])
    return str(envelope_["type"])


async def test_apply_from_empty_creates_every_resource(
    applied: Plan, aws: AwsClients, env: str
) -> None:
    assert applied.count(Create) == len(applied.changes) == 32
    assert applied.unchanged == 0
    again = await converge(aws, REFERENCE, env)
    assert again.is_empty
    assert again.unchanged == 32


async def test_topic_fans_out_only_to_queues_whose_filter_matches(
    applied: Plan, aws: AwsClients, names: Names
) -> None:
    topic = names.topic_arn("orders")
    for event_type in ("OrderPlaced", "PaymentCaptured", "OrderShipped"):
        await aws.sns.publish(
            TopicArn=topic,
            Message=envelope(event_type, order_id="o-1"),
            MessageAttributes={
                "event_type": {"DataType": "String", "StringValue": event_type},
                "event_version": {"DataType": "Number", "StringValue": "1"},
            },
        )
    urls = [await url(aws, names, q) for q in ("billing", "shipping", "notifications")]
    billing, shipping, notifications = await asyncio.gather(*(receive_all(aws, u, 1) for u in urls))
    assert [event_type_of(m, raw=True) for m in billing] == ["OrderPlaced"]
    assert billing[0]["MessageAttributes"]["event_type"]["StringValue"] == "OrderPlaced"
    assert [event_type_of(m, raw=True) for m in shipping] == ["PaymentCaptured"]
    assert [event_type_of(m, raw=False) for m in notifications] == ["OrderShipped"]  # body filter


async def test_bus_rule_routes_only_high_value_orders_to_fraud_review(
    applied: Plan, aws: AwsClients, names: Names
) -> None:
    entries = [
        {
            "Source": "shop",
            "DetailType": "OrderPlaced",
            "Detail": envelope("OrderPlaced", order_id=order_id, total_cents=total),
            "EventBusName": names.bus("shop-events"),
        }
        for order_id, total in (("o-small", 99_999), ("o-big", 125_000), ("o-edge", 100_000))
    ]
    result = await aws.events.put_events(Entries=entries)
    assert result["FailedEntryCount"] == 0
    got = await receive_all(aws, await url(aws, names, "fraud-review"), 2)
    orders = sorted(json.loads(m["Body"])["detail"]["data"]["order_id"] for m in got)
    assert orders == ["o-big", "o-edge"]


async def test_message_received_max_receive_count_times_moves_to_its_dlq(
    applied: Plan, aws: AwsClients, names: Names
) -> None:
    source, dlq = await url(aws, names, "billing"), await url(aws, names, "billing-dlq")
    marker = f"poison-{uuid.uuid4()}"
    await aws.sqs.send_message(QueueUrl=source, MessageBody=marker)
    receives = 0
    for _ in range(10):
        page = await aws.sqs.receive_message(
            QueueUrl=source, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=1
        )
        if not any(m["Body"] == marker for m in page.get("Messages", [])):
            break
        receives += 1
    assert receives == 3  # max_receive_count of billing
    dead = await receive_all(aws, dlq, 1)
    assert [m["Body"] for m in dead] == [marker]


async def test_queue_policies_allow_only_the_feeding_topic_or_rule(
    applied: Plan, aws: AwsClients, names: Names
) -> None:
    async def statements(queue: str) -> list[dict[str, Any]]:
        got = await aws.sqs.get_queue_attributes(
            QueueUrl=await url(aws, names, queue), AttributeNames=["Policy"]
        )
        policy = got.get("Attributes", {}).get("Policy")
        return json.loads(policy)["Statement"] if policy else []

    (billing,) = await statements("billing")
    assert billing["Principal"] == {"Service": "sns.amazonaws.com"}
    assert billing["Condition"]["ArnEquals"]["aws:SourceArn"] == [names.topic_arn("orders")]
    for queue in ("fraud-review", "events-undelivered"):
        (statement,) = await statements(queue)
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == [
            names.rule_arn("high-value-orders")
        ]
    assert await statements("billing-dlq") == []
    for queue in REFERENCE.all_queues():
        for statement in await statements(queue):
            assert statement["Principal"] != "*"
            assert statement["Condition"]["ArnEquals"]["aws:SourceArn"]


async def test_queues_are_encrypted_tagged_and_dlqs_allow_only_their_sources(
    applied: Plan, aws: AwsClients, names: Names
) -> None:
    for queue in REFERENCE.all_queues():
        queue_url = await url(aws, names, queue)
        got = await aws.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
        assert got["Attributes"]["SqsManagedSseEnabled"] == "true", queue
        tags = (await aws.sqs.list_queue_tags(QueueUrl=queue_url)).get("Tags", {})
        assert tags["bus:topology"] == "shop"
        assert tags["bus:env"] == names.env
    got = await aws.sqs.get_queue_attributes(
        QueueUrl=await url(aws, names, "billing-dlq"), AttributeNames=["RedriveAllowPolicy"]
    )
    assert json.loads(got["Attributes"]["RedriveAllowPolicy"]) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [names.queue_arn("billing")],
    }


async def test_plan_after_apply_is_empty_including_prune(
    applied: Plan, aws: AwsClients, env: str
) -> None:
    for prune in (False, True):
        assert (await make_plan(aws, REFERENCE, env, prune=prune)).is_empty
