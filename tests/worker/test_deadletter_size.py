"""A DLQ copy keeps its ``bus.failure`` record up to the DLQ's own ``MaximumMessageSize``, read when
the worker resolves its queues (against the embedded LocalStack)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bus.aws import AwsClients
from bus.aws.failure import read_failure
from bus.aws.limits import message_size
from bus.aws.sqs import QueueOps
from bus.worker.deadletter import dead_letter_entry, failure_of
from bus.worker.message import Received
from bus.worker.queues import resolve_queue

pytestmark = pytest.mark.aws

BODY_BYTES = 600_000
"""More than a 256 KiB queue takes, well within 1 MiB."""


async def _source_with_dlq(aws: AwsClients, env: str, dlq_max: int) -> None:
    dlq = await aws.sqs.create_queue(
        QueueName=f"{env}-orders-dlq", Attributes={"MaximumMessageSize": str(dlq_max)}
    )
    arn = (
        await aws.sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"])
    )["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3})
    await aws.sqs.create_queue(
        QueueName=f"{env}-orders",
        Attributes={"RedrivePolicy": policy, "MaximumMessageSize": "1048576"},
    )


async def _dead_letter(aws: AwsClients, env: str, body: str) -> dict[str, object]:
    info = await resolve_queue(aws, "orders", env)
    assert info.dlq_url is not None
    source = QueueOps(aws.sqs, info.url)
    await source.send({"MessageBody": body})
    (raw,) = await source.receive(1, 1)
    message = Received.from_sqs(raw)
    failure = failure_of(
        message, "handler-error", ValueError("é" * 1000), info.physical, datetime.now(UTC)
    )
    entry = dead_letter_entry(message, failure, fifo=False, max_bytes=info.dlq_max_bytes)
    assert message_size(entry["MessageBody"], entry["MessageAttributes"]) <= info.dlq_max_bytes
    await QueueOps(aws.sqs, info.dlq_url).send(entry)
    (copy,) = await QueueOps(aws.sqs, info.dlq_url).receive(1, 1)
    return dict(copy)


async def test_a_1_mib_dlq_keeps_the_whole_record_of_a_large_message(
    aws: AwsClients, bus_env: str
) -> None:
    await _source_with_dlq(aws, bus_env, 1_048_576)
    info = await resolve_queue(aws, "orders", bus_env)
    assert info.dlq_max_bytes == 1_048_576
    copy = await _dead_letter(aws, bus_env, "x" * BODY_BYTES)
    assert copy["Body"] == "x" * BODY_BYTES
    attributes = copy["MessageAttributes"]
    assert isinstance(attributes, dict)
    record = read_failure(attributes["bus.failure"]["StringValue"])
    assert record is not None
    assert record.reason == "handler-error"
    assert record.error == "é" * 1000  # whole: not shortened to 256 KiB


async def test_a_256_kib_dlq_gets_a_copy_that_fits_it(aws: AwsClients, bus_env: str) -> None:
    await _source_with_dlq(aws, bus_env, 262_144)
    info = await resolve_queue(aws, "orders", bus_env)
    assert info.dlq_max_bytes == 262_144
    body = "y" * (262_144 - 400)
    copy = await _dead_letter(aws, bus_env, body)
    assert copy["Body"] == body
    attributes = copy["MessageAttributes"]
    assert isinstance(attributes, dict)
    record = read_failure(attributes["bus.failure"]["StringValue"])
    assert record is not None
    assert record.error is not None
    assert record.error.endswith("...")
    assert len(record.error) < 1000
