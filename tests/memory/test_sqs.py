"""In-memory SQS: visibility, receive counts, redrive, FIFO groups and dedup, delays, limits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bus.aws import AwsClients, aws_errors
from bus.errors import AwsError
from bus.memory import MemoryAws, VirtualClock
from bus.topology.observe import MISSING_QUEUE


async def queue(aws: MemoryAws, name: str, **attributes: str) -> str:
    return str((await aws.sqs.create_queue(QueueName=name, Attributes=attributes))["QueueUrl"])


async def receive(aws: MemoryAws, url: str, n: int = 10, wait: int = 0) -> list[dict[str, Any]]:
    answer = await aws.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=n, WaitTimeSeconds=wait,
        MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
    )  # fmt: skip
    return list(answer.get("Messages", []))


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


async def test_a_message_comes_back_after_its_visibility_timeout(memory: MemoryAws) -> None:
    url = await queue(memory, "q", VisibilityTimeout="30")
    await memory.sqs.send_message(QueueUrl=url, MessageBody="hello")
    (first,) = await receive(memory, url)
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    assert await receive(memory, url) == []
    await asyncio.sleep(29)
    assert await receive(memory, url) == []
    await asyncio.sleep(1)
    (again,) = await receive(memory, url)
    assert again["MessageId"] == first["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    assert again["ReceiptHandle"] != first["ReceiptHandle"]


async def test_a_stale_receipt_deletes_nothing_and_the_newest_deletes(memory: MemoryAws) -> None:
    url = await queue(memory, "q", VisibilityTimeout="1")
    await memory.sqs.send_message(QueueUrl=url, MessageBody="hello")
    (first,) = await receive(memory, url)
    await asyncio.sleep(1)
    (second,) = await receive(memory, url)
    await memory.sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    attrs = await memory.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"
    await memory.sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])
    attrs = await memory.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"
    with pytest.raises(ClientError) as bad:
        await memory.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=5
        )
    assert code(bad) == "InvalidParameterValue"


async def test_redrive_moves_the_message_after_max_receive_count(memory: MemoryAws) -> None:
    dlq = await queue(memory, "q-dlq")
    dlq_arn = (await memory.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
    url = await queue(memory, "q", VisibilityTimeout="10", RedrivePolicy=policy)
    await memory.sqs.send_message(
        QueueUrl=url, MessageBody="poison",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "bad"}},
    )  # fmt: skip
    for attempt in (1, 2, 3):
        (m,) = await receive(memory, url)
        assert m["Attributes"]["ApproximateReceiveCount"] == str(attempt)
        await asyncio.sleep(10)
    assert await receive(memory, url) == []
    (dead,) = await receive(memory, dlq)
    assert dead["MessageId"] == m["MessageId"]
    assert dead["Body"] == "poison"
    assert dead["MessageAttributes"]["kind"]["StringValue"] == "bad"
    assert dead["Attributes"]["DeadLetterQueueSourceArn"].endswith(":q")
    sources = await memory.sqs.list_dead_letter_source_queues(QueueUrl=dlq)
    assert sources["queueUrls"] == [url]


async def test_fifo_blocks_a_group_while_a_message_of_it_is_in_flight(memory: MemoryAws) -> None:
    url = await queue(memory, "q.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    for group, body in [("a", "a1"), ("a", "a2"), ("b", "b1")]:
        await memory.sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    got = await receive(memory, url, n=1)
    assert [m["Body"] for m in got] == ["a1"]
    got = await receive(memory, url)
    assert [m["Body"] for m in got] == ["b1"]  # a2 waits behind a1
    await memory.sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    assert int(got[0]["Attributes"]["SequenceNumber"]) > 0


async def test_fifo_deduplicates_for_five_minutes(memory: MemoryAws) -> None:
    url = await queue(memory, "q.fifo", FifoQueue="true")
    send = {
        "QueueUrl": url,
        "MessageBody": "x",
        "MessageGroupId": "g",
        "MessageDeduplicationId": "d",
    }
    first = await memory.sqs.send_message(**send)
    again = await memory.sqs.send_message(**send)
    assert again["MessageId"] == first["MessageId"]
    assert len(await receive(memory, url)) == 1
    await asyncio.sleep(300)
    third = await memory.sqs.send_message(**send)
    assert third["MessageId"] != first["MessageId"]
    with pytest.raises(ClientError) as missing:
        await memory.sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert code(missing) == "InvalidParameterValue"  # no dedup id, no content-based dedup


async def test_delay_seconds_hold_a_message_back(memory: MemoryAws) -> None:
    url = await queue(memory, "q")
    await memory.sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    attrs = await memory.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )
    assert attrs["Attributes"] == {"ApproximateNumberOfMessagesDelayed": "1"}
    assert await receive(memory, url, wait=20) == []
    assert await receive(memory, url, wait=20) == []
    start = asyncio.get_running_loop().time()
    (m,) = await receive(memory, url, wait=20)  # the long poll ends when it becomes visible
    assert m["Body"] == "later"
    # within this poll; the virtual clock still moves with real time too, so allow its jitter
    assert asyncio.get_running_loop().time() - start < 20.5


async def test_a_long_poll_returns_when_a_message_arrives(
    memory: MemoryAws, clock: VirtualClock
) -> None:
    url = await queue(memory, "q")
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def send_later() -> None:
        await asyncio.sleep(5)
        await memory.sqs.send_message(QueueUrl=url, MessageBody="hi")

    sender = asyncio.create_task(send_later())
    (m,) = await receive(memory, url, wait=20)
    await sender
    assert m["Body"] == "hi"
    assert 5 <= loop.time() - start < 20
    assert await receive(memory, url, wait=20) == []
    assert loop.time() - start >= 25


async def test_batch_limits_are_enforced(memory: MemoryAws) -> None:
    url = await queue(memory, "q")
    entries = [{"Id": str(i), "MessageBody": "x"} for i in range(11)]
    with pytest.raises(ClientError) as many:
        await memory.sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert code(many) == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    with pytest.raises(ClientError) as same:
        await memory.sqs.send_message_batch(QueueUrl=url, Entries=[entries[0], entries[0]])
    assert code(same) == "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
    big = "x" * (1024 * 1024 + 1)
    answer = await memory.sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "ok", "MessageBody": "fine"}]
    )
    assert [s["Id"] for s in answer["Successful"]] == ["ok"]
    with pytest.raises(ClientError) as large:
        await memory.sqs.send_message(QueueUrl=url, MessageBody=big)
    assert code(large) == "InvalidParameterValue"


async def test_an_attribute_value_with_a_character_sqs_refuses_is_refused(
    memory: MemoryAws,
) -> None:
    url = await queue(memory, "q")
    for value in ("a\x01b", "a\ufffeb"):
        attribute = {"k": {"DataType": "String", "StringValue": value}}
        with pytest.raises(ClientError) as refused:
            await memory.sqs.send_message(
                QueueUrl=url, MessageBody="x", MessageAttributes=attribute
            )
        assert code(refused) == "InvalidParameterValue"  # as LocalStack answers (test_fidelity)
        assert "Invalid characters found" in str(refused.value)
        answer = await memory.sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "x", "MessageAttributes": attribute}]
        )
        assert [(f["Id"], f["Code"]) for f in answer["Failed"]] == [("1", "InvalidParameterValue")]
    assert await receive(memory, url) == []


async def _refusals(sqs: Any, url: str) -> list[tuple[str, str]]:
    """What SendMessage and a SendMessageBatch entry answer to refused attribute values."""
    out = []
    for value in ("a\x01b", "a\ufffeb", "\x7f ok"):
        attribute = {"k": {"DataType": "String", "StringValue": value}}
        try:
            await sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=attribute)
            out.append(("accepted", ""))
        except ClientError as exc:
            out.append((exc.response["Error"]["Code"], exc.response["Error"]["Message"]))
        answer = await sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "x", "MessageAttributes": attribute}]
        )
        # the entry's code: LocalStack says InvalidParameterValueException, the in-memory SQS the
        # single call's InvalidParameterValue (AWS documents neither); the message is compared
        out += [("failed", f["Message"]) for f in answer.get("Failed", [])]
    return out


@pytest.mark.aws
async def test_attribute_values_are_refused_as_localstack_refuses_them(
    aws: AwsClients, bus_env: str
) -> None:
    name = f"{bus_env}-chars"
    url = (await aws.sqs.create_queue(QueueName=name))["QueueUrl"]
    async with MemoryAws() as memory:
        assert await _refusals(memory.sqs, await queue(memory, name)) == await _refusals(
            aws.sqs, url
        )


async def _binary(sqs: Any, url: str) -> list[Any]:
    """What a send and a receive give for Binary attributes passed as text and as bytes (botocore
    sends text as its UTF-8 bytes), and whether a message one byte over the queue's 1,024 is taken
    when a text binary value counts that way."""
    attributes = {
        "text": {"DataType": "Binary", "BinaryValue": "a\u00e9"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        "s": {"DataType": "String", "StringValue": "v"},
    }
    sent = await sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=attributes)
    answer = await sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])
    (got,) = answer["Messages"]
    out: list[Any] = [sent["MD5OfMessageAttributes"], got["MD5OfMessageAttributes"]]
    out.append(
        {k: v.get("BinaryValue", v.get("StringValue")) for k, v in got["MessageAttributes"].items()}
    )
    blob = {"b": {"DataType": "Binary", "BinaryValue": "\u00e9" * 100}}  # 200 bytes, 100 characters
    room = 1024 - len("b") - len("Binary") - 200
    for body in ("y" * room, "y" * (room + 1)):
        try:
            await sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=blob)
            out.append("accepted")
        except ClientError as exc:
            out.append(code_of(exc))
    return out


def code_of(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


@pytest.mark.aws
async def test_binary_attributes_given_as_text_count_and_hash_as_localstack_does(
    aws: AwsClients, bus_env: str
) -> None:
    name = f"{bus_env}-binary"
    url = (await aws.sqs.create_queue(QueueName=name, Attributes={"MaximumMessageSize": "1024"}))[
        "QueueUrl"
    ]
    async with MemoryAws() as memory:
        mine = await _binary(memory.sqs, await queue(memory, name, MaximumMessageSize="1024"))
    theirs = await _binary(aws.sqs, url)
    assert mine == theirs
    assert mine[2] == {"text": "a\u00e9".encode(), "raw": b"\x00\x01", "s": "v"}
    assert mine[3:] == ["accepted", "InvalidParameterValue"]


async def test_a_missing_queue_maps_to_bus_missing_queue_codes(memory: MemoryAws) -> None:
    with pytest.raises(AwsError) as missing, aws_errors("GetQueueUrl"):
        await memory.sqs.get_queue_url(QueueName="nope")
    assert missing.value.code in MISSING_QUEUE


async def test_a_move_task_returns_dead_letters_to_their_source(memory: MemoryAws) -> None:
    await queue(memory, "q-dlq")
    arn = f"arn:aws:sqs:us-east-1:{memory.world.account_id}:q-dlq"
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 1})
    url = await queue(memory, "q", VisibilityTimeout="5", RedrivePolicy=policy)
    for i in range(3):
        await memory.sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    await receive(memory, url)
    await asyncio.sleep(5)
    assert await receive(memory, url) == []
    started = await memory.sqs.start_message_move_task(SourceArn=arn)
    listed = await memory.sqs.list_message_move_tasks(SourceArn=arn)
    assert listed["Results"][0]["TaskHandle"] == started["TaskHandle"]
    await asyncio.sleep(1)  # the task runs in the background; without a rate, in one go
    (done,) = (await memory.sqs.list_message_move_tasks(SourceArn=arn))["Results"]
    assert done["Status"] == "COMPLETED"
    assert done["ApproximateNumberOfMessagesMoved"] == 3
    back = await receive(memory, url)
    assert sorted(m["Body"] for m in back) == ["m0", "m1", "m2"]
    assert all(m["Attributes"]["ApproximateReceiveCount"] == "1" for m in back)
    with pytest.raises(ClientError) as not_dlq:
        await memory.sqs.start_message_move_task(SourceArn=arn.replace("q-dlq", "q"))
    assert code(not_dlq) == "InvalidParameterValue"
