"""The AWS core's SQS model against the embedded LocalStack: queue resolution and batch calls with
per-entry results."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiobotocore.session import AioSession
from botocore.exceptions import ClientError

from bus.aws import AwsClients
from bus.aws.clients import retries
from bus.aws.queues import RedrivePolicy, is_missing_queue, name_of, queue_attributes, queue_url
from bus.aws.sqs import QueueOps
from bus.errors import AwsError

pytestmark = pytest.mark.aws


async def _queue(aws: AwsClients, name: str, **attributes: str) -> str:
    return (await aws.sqs.create_queue(QueueName=name, Attributes=attributes))["QueueUrl"]


async def test_a_missing_queue_is_one_clear_error(aws: AwsClients, bus_env: str) -> None:
    with pytest.raises(AwsError, match=f"queue {bus_env}-nope does not exist: apply") as caught:
        await queue_url(aws.sqs, f"{bus_env}-nope")
    assert is_missing_queue(caught.value)
    assert caught.value.operation == "GetQueueUrl"


async def test_url_attributes_and_redrive_policy(aws: AwsClients, bus_env: str) -> None:
    dlq = await _queue(aws, f"{bus_env}-dlq", MaximumMessageSize="1048576")
    arn = (await queue_attributes(aws.sqs, dlq, ["QueueArn"]))["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 4})
    source = await _queue(aws, f"{bus_env}-src", RedrivePolicy=policy)
    assert await queue_url(aws.sqs, f"{bus_env}-src") == source
    attrs = await queue_attributes(aws.sqs, source, ["RedrivePolicy", "VisibilityTimeout"])
    redrive = RedrivePolicy.parse(attrs["RedrivePolicy"])
    assert redrive is not None
    assert redrive.max_receive_count == 4
    assert redrive.dlq_name == f"{bus_env}-dlq" == name_of(dlq) == name_of(arn)
    assert await queue_url(aws.sqs, redrive.dlq_name, redrive.dlq_owner) == dlq
    sizes = await queue_attributes(aws.sqs, dlq, ["MaximumMessageSize"])
    assert sizes == {"MaximumMessageSize": "1048576"}


async def test_batch_calls_answer_per_entry(aws: AwsClients, bus_env: str) -> None:
    ops = QueueOps(aws.sqs, await _queue(aws, f"{bus_env}-q", MaximumMessageSize="1024"))
    answer = await ops.send_batch(
        [{"MessageBody": "one"}, {"MessageBody": "x" * 2000}, {"MessageBody": "three"}]
    )
    assert sorted(answer.accepted) == [0, 2]
    assert answer.failure(0) is None
    refused = answer.failure(1)
    assert refused is not None
    assert refused.sender_fault
    received = await ops.receive(10, 1, visibility_timeout=30)
    assert sorted(m["Body"] for m in received) == ["one", "three"]
    receipts = [m["ReceiptHandle"] for m in received]
    assert await ops.change_visibility_batch([*receipts, "bogus"], 0) == {
        "bogus": (await ops.change_visibility_batch(["bogus"], 0))["bogus"]
    }
    failed = await ops.delete_batch([receipts[0], "bogus"])
    assert list(failed) == ["bogus"]
    assert failed["bogus"].code


async def test_receive_parses_as_botocore_does_and_errors_stay_client_errors(
    aws: AwsClients, bus_env: str
) -> None:
    """The lighter ReceiveMessage parse (``bus.aws.receive``) on a real answer: what a client
    without it parses from the same message, binary attributes as bytes; errors still map."""
    ops = QueueOps(aws.sqs, await _queue(aws, f"{bus_env}-rx"))
    attributes = {
        "event_type": {"DataType": "String", "StringValue": "OrderPlaced"},
        "n": {"DataType": "Number", "StringValue": "42"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xffbus"},
    }
    await ops.send({"MessageBody": "héllo", "MessageAttributes": attributes})
    bodies: list[bytes] = []

    def seen(response_dict: dict[str, Any], **_: Any) -> None:
        bodies.append(response_dict["body"])

    aws.sqs.meta.events.register_last("before-parse.sqs.ReceiveMessage", seen)
    try:
        (fast,) = await ops.receive(10, 1, visibility_timeout=0)
    finally:
        aws.sqs.meta.events.unregister("before-parse.sqs.ReceiveMessage", seen)
    assert bodies == [b"{}"]  # botocore walked nothing: the messages were parsed by bus
    session = AioSession()
    kwargs = aws._client_kwargs("sqs", retries(aws.settings, session))
    async with session.create_client("sqs", **kwargs) as plain:
        (slow,) = await QueueOps(plain, ops.url).receive(10, 1, visibility_timeout=0)
    assert fast["MessageAttributes"]["blob"] == {
        "DataType": "Binary",
        "BinaryValue": b"\x00\xffbus",
    }
    assert fast["Body"] == "héllo"
    per_receive = ("ReceiptHandle", "Attributes")  # a new receipt and receive count each time
    assert {k: v for k, v in fast.items() if k not in per_receive} == {
        k: v for k, v in slow.items() if k not in per_receive
    }
    assert fast["Attributes"].keys() == slow["Attributes"].keys()
    with pytest.raises(AwsError) as caught:
        await QueueOps(aws.sqs, ops.url + "-gone").receive(1, 0)
    assert is_missing_queue(caught.value)
    assert isinstance(caught.value.__cause__, ClientError)
