"""Size limits of the copies a redrive or replay sends: ``pack`` fills a SendMessageBatch call up
to SQS's 1 MiB total and no further, ``refusal`` refuses a message over SQS's 1 MiB limit, both
counting the body and the message attributes the way SQS does (see ``bus.dlq.send``). The unit
tests are pure; the last two check against LocalStack that a call packed to exactly the limit is
accepted and that one byte more fails the whole call, which is why ``pack`` must never exceed it;
and that a message over its queue's lower MaximumMessageSize fails as its own entry, reported.
A request body over 1 MiB makes aiohttp warn (a ResourceWarning, which Python ignores by default
and this suite turns into an error); those two tests let it be.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from bus.aws.backoff import RetryConfig
from bus.dlq.queues import QueueRef, Queues
from bus.dlq.send import (
    MAX_MESSAGE_BYTES,
    MAX_REQUEST_BYTES,
    Outgoing,
    pack,
    refusal,
    send_batch,
    send_entries,
)
from bus.errors import AwsError
from bus.settings import Settings
from tests.dlq.world import World, open_world

ATTRIBUTES = {
    "bus.failure": {"DataType": "String", "StringValue": '{"reason":"rejected"}'},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02"},
}
ATTRIBUTE_BYTES = len("bus.failure") + len("String") + 21 + len("blob") + len("Binary") + 3
QUEUE = QueueRef(name="q", url="https://sqs.fake/0/q", arn="arn:aws:sqs:fake:0:q")


def item(key: str, size: int) -> Outgoing:
    """A message of exactly ``size`` bytes by SQS's count (``é`` is two bytes)."""
    body = "é" + "x" * (size - ATTRIBUTE_BYTES - 2)
    message = Outgoing(key=key, body=body, attributes=ATTRIBUTES)
    assert message.size == size
    return message


def sizes(batches: list[list[Outgoing]]) -> list[int]:
    return [sum(i.size for i in batch) for batch in batches]


def test_the_limits_are_sqs_1_mib() -> None:
    assert MAX_MESSAGE_BYTES == MAX_REQUEST_BYTES == 1_048_576


def test_a_call_is_filled_up_to_exactly_the_limit() -> None:
    quarter = MAX_REQUEST_BYTES // 4
    exact = [item(f"m{i}", quarter) for i in range(4)]
    assert sizes(pack(exact)) == [MAX_REQUEST_BYTES]  # exactly 1 MiB: one call
    over = [*exact[:3], item("m3", quarter + 1)]
    assert [len(b) for b in pack(over)] == [3, 1]  # one byte more: two calls
    assert max(sizes(pack(over))) <= MAX_REQUEST_BYTES


def test_a_call_holds_at_most_10_entries_and_keeps_the_order() -> None:
    items = [item(f"m{i}", 1_000) for i in range(25)]
    batches = pack(items)
    assert [len(b) for b in batches] == [10, 10, 5]
    assert [i.key for b in batches for i in b] == [i.key for i in items]


def test_refusal_at_the_message_limit() -> None:
    assert refusal(item("ok", MAX_MESSAGE_BYTES), QUEUE) is None
    problem = refusal(item("big", MAX_MESSAGE_BYTES + 1), QUEUE)
    assert problem == (
        f"message of {MAX_MESSAGE_BYTES + 1} bytes is over SQS's size limit of 1048576 bytes"
    )
    # The largest message SQS accepts fits a call on its own.
    assert sizes(pack([item("ok", MAX_MESSAGE_BYTES)])) == [MAX_REQUEST_BYTES]


# -- against LocalStack ---------------------------------------------------------------------------

TOPOLOGY = """
name: dlqlimits
queues:
  big: {maximum_message_size: 1048576, dead_letter: false}
  small: {dead_letter: false}  # bus's default MaximumMessageSize: 256 KiB
"""


LARGE_BODY = pytest.mark.filterwarnings(
    "ignore:Sending a large body directly with raw bytes:ResourceWarning"
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(
    bus_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    async with open_world(bus_settings, TOPOLOGY, tmp_path_factory.mktemp("dlq-limits")) as w:
        yield w


async def drain(world: World, queue: QueueRef) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while True:
        answer = await world.aws.sqs.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        messages = answer.get("Messages", [])
        if not messages:
            return got
        got += messages
        for m in messages:
            await world.aws.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=m["ReceiptHandle"])


@pytest.mark.aws
@LARGE_BODY
async def test_sqs_accepts_a_call_packed_to_exactly_1_mib(world: World) -> None:
    queue = await Queues(world.aws, world.topology, world.env).resolve("big")
    quarter = MAX_REQUEST_BYTES // 4
    items = [item(f"m{i}", quarter) for i in range(4)]
    assert len(pack(items)) == 1
    sent = await send_entries(world.aws, queue, items)
    assert (sorted(sent.ok), sent.failed) == (["m0", "m1", "m2", "m3"], {})
    received = await drain(world, queue)
    assert sorted(len(m["Body"].encode()) for m in received) == [quarter - ATTRIBUTE_BYTES] * 4


@pytest.mark.aws
@LARGE_BODY
async def test_one_byte_over_fails_the_whole_call_so_pack_splits_it(world: World) -> None:
    queue = await Queues(world.aws, world.topology, world.env).resolve("big")
    quarter = MAX_REQUEST_BYTES // 4
    items = [item(f"m{i}", quarter) for i in range(3)] + [item("m3", quarter + 1)]
    with pytest.raises(AwsError) as info:
        await send_entries(world.aws, queue, items)  # one call, past the limit
    assert info.value.code is not None
    assert "BatchRequestTooLong" in info.value.code
    assert await drain(world, queue) == []  # nothing of it was enqueued
    sent = await send_batch(world.aws, queue, items)  # packed: two calls
    assert (sorted(sent.ok), sent.failed) == (["m0", "m1", "m2", "m3"], {})
    assert len(await drain(world, queue)) == 4


@pytest.mark.aws
async def test_a_message_over_the_queues_own_limit_fails_alone(world: World) -> None:
    queue = await Queues(world.aws, world.topology, world.env).resolve("small")
    items = [item("fits", 262_144), item("too-big", 262_145), item("small", 1_000)]
    assert len(pack(items)) == 1
    sent = await send_batch(world.aws, queue, items)
    assert sorted(sent.ok) == ["fits", "small"]
    assert list(sent.failed) == ["too-big"]
    assert sent.failed["too-big"].startswith("InvalidParameterValue")
    assert len(await drain(world, queue)) == 2


def test_a_send_retry_needs_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryConfig(attempts=0)
