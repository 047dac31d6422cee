"""Less common settings applied to LocalStack: each plans nothing after apply, changes apply.

Filter policy scope changes (a nested body policy needs the scope first), topic encryption and
FIFO content-based deduplication, rule targets with an input path or an input transformer, and
settings removed from the YAML going back to AWS's defaults. Each test has its own environment.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from bus.aws import AwsClients
from bus.settings import Settings
from bus.topology.apply import converge, make_plan
from bus.topology.check import check_topology
from bus.topology.model import Topology

pytestmark = pytest.mark.aws


@pytest.fixture
def env() -> str:
    return "s" + uuid.uuid4().hex[:8]


@pytest_asyncio.fixture(scope="module")
async def aws(bus_settings: Settings) -> AsyncIterator[AwsClients]:
    async with AwsClients(bus_settings) as clients:
        yield clients


def topology(**sections: Any) -> Topology:
    t = Topology.model_validate({"name": "settings", **sections})
    assert check_topology(t) == []  # what `bus validate` would accept
    return t


async def converge_then_plan_nothing(aws: AwsClients, t: Topology, env: str) -> None:
    await converge(aws, t, env)
    again = await make_plan(aws, t, env, prune=True)
    assert again.is_empty, str(again)


async def receive(aws: AwsClients, queue: str, *, within: float = 10.0) -> list[str]:
    """Bodies received from ``queue`` until a receive comes back empty after the first message."""
    url = (await aws.sqs.get_queue_url(QueueName=queue))["QueueUrl"]
    bodies: list[str] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        page = await aws.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        messages = page.get("Messages", [])
        for m in messages:
            await aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        bodies += [m["Body"] for m in messages]
        if bodies and not messages:
            break
    return bodies


def subscribed(filter_policy: dict[str, Any], scope: str | None = None) -> Topology:
    sub: dict[str, Any] = {"topic": "orders", "queue": "notes", "raw_message_delivery": True}
    sub["filter_policy"] = filter_policy
    if scope is not None:
        sub["filter_policy_scope"] = scope
    return topology(
        topics={"orders": {}}, queues={"notes": {"dead_letter": False}}, subscriptions=[sub]
    )


async def test_a_subscription_changes_to_a_nested_body_policy_and_back(
    aws: AwsClients, env: str
) -> None:
    by_attribute = subscribed({"event_type": ["OrderShipped"]})
    await converge_then_plan_nothing(aws, by_attribute, env)

    by_body = subscribed({"data": {"kind": ["express"]}}, "MessageBody")
    planned = await make_plan(aws, by_body, env)
    assert [str(c) for c in planned.changes] == [
        f"~ update subscription {env}-orders -> {env}-notes: FilterPolicy: "
        '{"event_type":["OrderShipped"]} -> {"data":{"kind":["express"]}}',
        f"~ update subscription {env}-orders -> {env}-notes: FilterPolicyScope: "
        "MessageAttributes -> MessageBody",
    ]
    await converge_then_plan_nothing(aws, by_body, env)  # SNS refuses the policy before the scope
    topic = f"arn:aws:sns:{aws.region}:{(await aws.account()).account_id}:{env}-orders"
    for kind in ("standard", "express"):
        await aws.sns.publish(TopicArn=topic, Message=json.dumps({"data": {"kind": kind}}))
    assert [json.loads(b)["data"]["kind"] for b in await receive(aws, f"{env}-notes")] == [
        "express"
    ]

    await converge_then_plan_nothing(aws, by_attribute, env)  # and back: the policy goes first


async def test_topic_encryption_and_fifo_content_based_deduplication(
    aws: AwsClients, env: str
) -> None:
    def topics(deduplicate: bool) -> Topology:
        return topology(
            topics={
                "secret": {"kms_master_key_id": "alias/aws/sns"},
                "ledger.fifo": {"fifo": True, "content_based_deduplication": deduplicate},
            }
        )

    await converge_then_plan_nothing(aws, topics(True), env)
    arn = f"arn:aws:sns:{aws.region}:{(await aws.account()).account_id}:{env}-"
    secret = await aws.sns.get_topic_attributes(TopicArn=arn + "secret")
    assert secret["Attributes"]["KmsMasterKeyId"] == "alias/aws/sns"
    ledger = await aws.sns.get_topic_attributes(TopicArn=arn + "ledger.fifo")
    assert ledger["Attributes"]["ContentBasedDeduplication"] == "true"

    planned = await make_plan(aws, topics(False), env)
    assert [str(c) for c in planned.changes] == [
        f"~ update topic {env}-ledger.fifo: ContentBasedDeduplication: true -> false"
    ]
    assert planned.unchanged == 1
    await converge_then_plan_nothing(aws, topics(False), env)


async def test_targets_with_input_path_and_input_transformer_deliver_what_they_select(
    aws: AwsClients, env: str
) -> None:
    t = topology(
        buses={"shop": {}},
        queues={"details": {"dead_letter": False}, "summary": {"dead_letter": False}},
        rules={
            "orders": {
                "bus": "shop",
                "event_pattern": {"source": ["shop"]},
                "targets": [
                    {"queue": "details", "input_path": "$.detail"},
                    {
                        "queue": "summary",
                        "input_transformer": {
                            "input_paths_map": {
                                "order": "$.detail.order_id",
                                "kind": "$.detail-type",
                            },
                            "input_template": '{"order": <order>, "kind": <kind>}',
                        },
                    },
                ],
            }
        },
    )
    await converge_then_plan_nothing(aws, t, env)
    detail = {"order_id": "o-1", "total_cents": 125_000}
    put = await aws.events.put_events(
        Entries=[
            {
                "Source": "shop",
                "DetailType": "OrderPlaced",
                "Detail": json.dumps(detail),
                "EventBusName": f"{env}-shop",
            }
        ]
    )
    assert put["FailedEntryCount"] == 0
    assert [json.loads(b) for b in await receive(aws, f"{env}-details")] == [detail]
    assert [json.loads(b) for b in await receive(aws, f"{env}-summary")] == [
        {"order": "o-1", "kind": "OrderPlaced"}
    ]


async def test_settings_removed_from_the_yaml_go_back_to_aws_defaults(
    aws: AwsClients, env: str
) -> None:
    before = topology(
        queues={
            "billing": {"dead_letter": {"queue": "parked"}},
            "parked": {"dead_letter": False},
            "ledger.fifo": {
                "fifo": True,
                "dead_letter": False,
                "deduplication_scope": "messageGroup",
                "fifo_throughput_limit": "perMessageGroupId",
            },
        }
    )
    await converge_then_plan_nothing(aws, before, env)
    after = topology(
        queues={
            "billing": {"dead_letter": False},
            "parked": {"dead_letter": False},
            "ledger.fifo": {"fifo": True, "dead_letter": False},
        }
    )
    planned = await make_plan(aws, after, env)
    assert sorted((c.resource.name, getattr(c, "attribute", "")) for c in planned.changes) == [
        (f"{env}-billing", "RedrivePolicy"),
        (f"{env}-ledger.fifo", "DeduplicationScope"),
        (f"{env}-ledger.fifo", "FifoThroughputLimit"),
        (f"{env}-parked", "RedriveAllowPolicy"),
    ]
    await converge_then_plan_nothing(aws, after, env)
    url = (await aws.sqs.get_queue_url(QueueName=f"{env}-ledger.fifo"))["QueueUrl"]
    got = await aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    assert got["Attributes"]["DeduplicationScope"] == "queue"
    assert got["Attributes"]["FifoThroughputLimit"] == "perQueue"
