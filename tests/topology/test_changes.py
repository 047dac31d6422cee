"""Changing an applied topology on LocalStack: one update, a refused FIFO change, and prune.

Each test first converges the reference topology in this module's environment (a no-op after the
first), then changes a copy of it, so the tests do not depend on their order.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from bus.aws import AwsClients, aws_errors
from bus.errors import AwsError, PlanError
from bus.settings import Settings
from bus.topology.apply import converge, make_plan
from bus.topology.model import Topology
from bus.topology.plan import Delete, ReplaceRequired, Update
from bus.topology.resolve import Names

pytestmark = pytest.mark.aws

ROOT = Path(__file__).resolve().parents[2]
DATA: dict[str, Any] = yaml.safe_load((ROOT / "topology.yaml").read_text())
BASE = Topology.model_validate(DATA)


def changed(edit: Any) -> Topology:
    """The reference topology with ``edit(data)`` applied to a copy of its YAML data."""
    data = copy.deepcopy(DATA)
    edit(data)
    return Topology.model_validate(data)


@pytest.fixture(scope="module")
def env() -> str:
    return "t" + uuid.uuid4().hex[:8]


@pytest_asyncio.fixture(scope="module")
async def aws(bus_settings: Settings) -> AsyncIterator[AwsClients]:
    async with AwsClients(bus_settings) as clients:
        yield clients


@pytest_asyncio.fixture
async def base(aws: AwsClients, env: str) -> Topology:
    await converge(aws, BASE, env)
    return BASE


async def queue_attribute(aws: AwsClients, name: str, attribute: str) -> str | None:
    queue_url = (await aws.sqs.get_queue_url(QueueName=name))["QueueUrl"]
    got = await aws.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    return got["Attributes"].get(attribute)


async def queue_exists(aws: AwsClients, name: str) -> bool:
    try:
        with aws_errors("GetQueueUrl"):
            await aws.sqs.get_queue_url(QueueName=name)
    except AwsError as exc:
        if exc.code in {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}:
            return False
        raise
    return True


async def test_changing_one_attribute_yields_exactly_one_update(
    base: Topology, aws: AwsClients, env: str
) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["queues"]["shipping"]["receive_message_wait_time"] = 10

    topology = changed(edit)
    planned = await make_plan(aws, topology, env)
    assert [str(c) for c in planned.changes] == [
        f"~ update queue {env}-shipping: ReceiveMessageWaitTimeSeconds: 20 -> 10"
    ]
    assert isinstance(planned.changes[0], Update)
    assert planned.unchanged == 31
    done = await converge(aws, topology, env)
    assert len(done.changes) == 1
    assert await queue_attribute(aws, f"{env}-shipping", "ReceiveMessageWaitTimeSeconds") == "10"
    assert (await make_plan(aws, topology, env)).is_empty
    await converge(aws, BASE, env)  # back to the reference for the other tests


async def test_making_a_queue_fifo_is_refused_without_touching_anything(
    base: Topology, aws: AwsClients, env: str
) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["queues"]["billing"]["fifo"] = True  # SQS cannot convert a queue
        data["queues"]["shipping"]["visibility_timeout"] = 90  # would be fine on its own

    topology = changed(edit)
    planned = await make_plan(aws, topology, env)
    refused = [c for c in planned.changes if isinstance(c, ReplaceRequired)]
    assert {(c.resource.name, c.attribute) for c in refused} == {
        (f"{env}-billing", "FifoQueue"),
        (f"{env}-billing-dlq", "FifoQueue"),  # the derived DLQ follows its source
    }
    with pytest.raises(PlanError, match="cannot be made in place; nothing was changed") as exc:
        await converge(aws, topology, env)
    assert "--prune" in str(exc.value)
    assert exc.value.exit_code == 3
    assert await queue_attribute(aws, f"{env}-shipping", "VisibilityTimeout") == "60"
    assert (await make_plan(aws, BASE, env)).is_empty


async def test_prune_deletes_only_what_bus_owns(base: Topology, aws: AwsClients, env: str) -> None:
    await aws.sqs.create_queue(QueueName=f"{env}-handmade")
    await aws.sqs.create_queue(
        QueueName=f"{env}-other-topology",
        tags={"bus:topology": "another", "bus:env": env, "bus:managed": "true"},
    )

    def edit(data: dict[str, Any]) -> None:
        del data["queues"]["shipping"]
        data["subscriptions"] = [s for s in data["subscriptions"] if s["queue"] != "shipping"]
        del data["rules"]
        del data["buses"]

    topology = changed(edit)
    assert not any(isinstance(c, Delete) for c in (await make_plan(aws, topology, env)).changes)
    shipping = (await aws.sqs.get_queue_url(QueueName=f"{env}-shipping"))["QueueUrl"]
    await aws.sqs.send_message(QueueUrl=shipping, MessageBody="still here")  # lost on delete
    planned = await make_plan(aws, topology, env, prune=True)
    assert [str(c) for c in planned.changes if isinstance(c, Delete)] == [
        f"- delete alarm {env}-events-undelivered-not-empty",  # no longer a DLQ: message-age now
        f"- delete alarm {env}-high-value-orders-failed-invocations",
        f"- delete alarm {env}-shipping-dlq-not-empty",
        f"- delete alarm {env}-shipping-message-age",
        f"- delete target {env}-shop-events/{env}-high-value-orders/fraud-review",
        f"- delete rule {env}-shop-events/{env}-high-value-orders",
        f"- delete subscription {env}-orders -> {env}-shipping",
        f"- delete queue {env}-shipping (~1 message)",
        f"- delete queue {env}-shipping-dlq (~0 messages)",
        f"- delete bus {env}-shop-events",
    ]
    await converge(aws, topology, env, prune=True)
    assert not await queue_exists(aws, f"{env}-shipping")
    assert not await queue_exists(aws, f"{env}-shipping-dlq")
    assert await queue_exists(aws, f"{env}-handmade")
    assert await queue_exists(aws, f"{env}-other-topology")
    with pytest.raises(AwsError) as gone, aws_errors("DescribeEventBus"):
        await aws.events.describe_event_bus(Name=f"{env}-shop-events")
    assert gone.value.code == "ResourceNotFoundException"
    assert (await make_plan(aws, topology, env, prune=True)).is_empty
    # back to the reference for the other tests, without the message-age alarm pruning made for
    # events-undelivered (no longer a dead-letter queue once the rule was gone)
    await converge(aws, BASE, env, prune=True)


async def test_prune_keeps_foreign_subscriptions_and_targets_on_owned_resources(
    base: Topology, aws: AwsClients, env: str
) -> None:
    """A queue bus does not own, subscribed to an owned topic or targeted by an owned rule, is
    someone else's wiring: pruning leaves both alone (they join an owned and a foreign resource)."""
    names = Names(BASE, env, await aws.account())
    foreign = await aws.sqs.create_queue(QueueName=f"{env}-foreign")
    foreign_arn = (
        await aws.sqs.get_queue_attributes(
            QueueUrl=foreign["QueueUrl"], AttributeNames=["QueueArn"]
        )
    )["Attributes"]["QueueArn"]
    subscription = await aws.sns.subscribe(
        TopicArn=names.topic_arn("orders"),
        Protocol="sqs",
        Endpoint=foreign_arn,
        ReturnSubscriptionArn=True,
    )
    rule = {"Rule": names.rule("high-value-orders"), "EventBusName": names.bus("shop-events")}
    await aws.events.put_targets(**rule, Targets=[{"Id": "foreign", "Arn": foreign_arn}])
    try:
        assert (await make_plan(aws, BASE, env, prune=True)).is_empty
        await converge(aws, BASE, env, prune=True)
        subs = await aws.sns.list_subscriptions_by_topic(TopicArn=names.topic_arn("orders"))
        assert foreign_arn in [s["Endpoint"] for s in subs["Subscriptions"]]
        targets = await aws.events.list_targets_by_rule(**rule)
        assert "foreign" in [t["Id"] for t in targets["Targets"]]
        assert await queue_exists(aws, f"{env}-foreign")
    finally:
        await aws.events.remove_targets(**rule, Ids=["foreign"])
        await aws.sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
        await aws.sqs.delete_queue(QueueUrl=foreign["QueueUrl"])
