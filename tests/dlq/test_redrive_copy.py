"""A selectively redriven copy is the DLQ original, field by field, against LocalStack.

Dead letters are put in a standard and a FIFO DLQ the way they arrive there (body, message
attributes of every data type, ``bus.failure`` naming the source, an ``AWSTraceHeader`` system
attribute; on FIFO a message group and a deduplication id), peeked, redriven, and received at the
destination: body, every message attribute (data type and value), the trace header and
the message group are the peeked original's. The deduplication id is not: bus derives a new one
from the DLQ message id (the original would make SQS drop the copy; see ``bus.dlq.send``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from bus import dlq
from bus.dlq.letter import DlqMessage
from bus.settings import Settings
from tests.dlq.world import World, envelope, open_world

pytestmark = pytest.mark.aws

TOPOLOGY = """
name: dlqcopy
queues:
  plain:
    dead_letter: {max_receive_count: 2}
  ledger.fifo:
    fifo: true
    dead_letter: {max_receive_count: 2}
"""
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(
    bus_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    async with open_world(bus_settings, TOPOLOGY, tmp_path_factory.mktemp("dlq-copy")) as w:
        yield w


def attributes(source: str, n: int) -> dict[str, dict[str, Any]]:
    """Message attributes of every SQS data type, and custom types, as a dead letter has them."""
    failure = {"reason": "handler-error", "error": f"boom {n}", "attempt": 2, "queue": source}
    return {
        "bus.failure": {"DataType": "String", "StringValue": json.dumps(failure)},
        "event_type": {"DataType": "String", "StringValue": "OrderPlaced"},
        "event_version": {"DataType": "Number", "StringValue": "1"},
        "weight": {"DataType": "Number.float", "StringValue": f"{n}.25"},
        "region": {"DataType": "String.iso3166", "StringValue": "DE-BY ünïcödé"},
        "signature": {"DataType": "Binary", "BinaryValue": bytes([0, 255, n, 10, 13])},
    }


async def fill(world: World, dead: str, source: str, count: int, *, fifo: bool) -> None:
    url = await world.url(dead)
    for n in range(count):
        body = json.dumps(envelope("OrderPlaced", {"key": f"k-{n}", "total_cents": n}))
        kwargs: dict[str, Any] = {
            "QueueUrl": url,
            "MessageBody": body,
            "MessageAttributes": attributes(world.name(source), n),
            "MessageSystemAttributes": {
                "AWSTraceHeader": {"DataType": "String", "StringValue": f"{TRACE}-{n}"}
            },
        }
        if fifo:
            kwargs["MessageGroupId"] = f"account-{n % 2}"
            kwargs["MessageDeduplicationId"] = f"original-{n}"
        await world.aws.sqs.send_message(**kwargs)


async def receive_all(world: World, queue: str, count: int) -> dict[str, dict[str, Any]]:
    """Every message of ``queue`` as ReceiveMessage returns it (then deleted), by body."""
    url = await world.url(queue)
    out: dict[str, dict[str, Any]] = {}
    for _ in range(20):
        answer = await world.aws.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        for message in answer.get("Messages", []):
            out[message["Body"]] = dict(message)
            await world.aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if len(out) >= count:
            break
    assert len(out) == count, f"{len(out)} of {count} messages arrived in {queue}"
    return out


def assert_same_message(copy: dict[str, Any], original: DlqMessage, *, fifo: bool) -> None:
    assert copy["Body"] == original.body
    attrs = copy.get("MessageAttributes", {})
    assert set(attrs) == set(original.message_attributes)
    for name, attr in original.message_attributes.items():
        for field in ("DataType", "StringValue", "BinaryValue"):
            assert attrs[name].get(field) == attr.get(field), (name, field)
    assert attrs == original.message_attributes  # and nothing else besides
    system = copy["Attributes"]
    assert system["AWSTraceHeader"] == original.system_attributes["AWSTraceHeader"]
    assert system.get("MessageGroupId") == original.group_id
    if fifo:
        assert original.group_id is not None
        assert system["MessageDeduplicationId"] != original.deduplication_id


async def redrive_and_compare(
    world: World, dead: str, source: str, count: int, *, fifo: bool
) -> None:
    await fill(world, dead, source, count, fifo=fifo)
    peeked = await dlq.peek(world.aws, world.name(dead), limit=None)
    assert len(peeked) == count
    originals = {d.body: d for d in peeked}
    # What was put in the DLQ is what the peek shows (the comparison below stands on it).
    for n, letter in enumerate(sorted(peeked, key=lambda d: int(d.data["total_cents"]))):
        assert letter.message_attributes == attributes(world.name(source), n)
        assert letter.system_attributes["AWSTraceHeader"] == f"{TRACE}-{n}"
    report = await dlq.redrive_selected(
        world.aws, dead, topology=world.topology, env=world.env, options=dlq.RedriveOptions()
    )
    assert (report.moved, report.failed, dict(report.destinations)) == (
        count,
        {},
        {world.name(source): count},
    )
    copies = await receive_all(world, source, count)
    assert set(copies) == set(originals)
    for body, copy in copies.items():
        assert_same_message(copy, originals[body], fifo=fifo)


async def test_a_redriven_copy_keeps_body_attributes_and_trace_header(world: World) -> None:
    await redrive_and_compare(world, "plain-dlq", "plain", 12, fifo=False)


async def test_a_redriven_fifo_copy_also_keeps_its_message_group(world: World) -> None:
    await redrive_and_compare(world, "ledger-dlq.fifo", "ledger.fifo", 6, fifo=True)
