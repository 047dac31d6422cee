"""Fault injection and the call journal of the in-memory AWS (``MemoryAws.faults``): errors as
botocore raises them, per-entry failures of batch calls, hooks before and after a call, the
journal, and nothing of it when no rule is set."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bus.aws import aws_errors
from bus.errors import AwsError
from bus.memory import BatchEntry, Call, MemoryAws, entry_failure


async def queue(aws: MemoryAws, name: str = "q") -> str:
    return str((await aws.sqs.create_queue(QueueName=name))["QueueUrl"])


async def send(aws: MemoryAws, url: str, *bodies: str) -> list[str]:
    return [(await aws.sqs.send_message(QueueUrl=url, MessageBody=b))["MessageId"] for b in bodies]


async def receive(aws: MemoryAws, url: str) -> list[dict[str, Any]]:
    answer = await aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return list(answer.get("Messages", []))


async def test_nothing_is_consulted_while_no_rule_is_set(memory: MemoryAws) -> None:
    assert not memory.faults.armed
    url = await queue(memory)
    assert memory.sqs.send_message == memory.memory_sqs.send_message  # the service's own
    await send(memory, url, "a")
    rule = memory.faults.fail("SendMessage", "InternalError")
    assert memory.faults.armed
    assert memory.sqs.send_message != memory.memory_sqs.send_message  # through the faults
    rule.remove()
    assert not memory.faults.armed
    assert memory.sqs.send_message == memory.memory_sqs.send_message
    await send(memory, url, "b")
    assert len(await receive(memory, url)) == 2


async def test_fail_raises_what_botocore_raises_the_next_times(memory: MemoryAws) -> None:
    url = await queue(memory)
    rule = memory.faults.fail("ReceiveMessage", "ThrottlingException", times=2)
    for _ in range(2):
        with pytest.raises(ClientError) as raised:
            await receive(memory, url)
        error = raised.value.response["Error"]
        assert (error["Code"], error["Type"]) == ("ThrottlingException", "Sender")
        assert raised.value.operation_name == "ReceiveMessage"
    assert await receive(memory, url) == []  # the third goes through
    assert (rule.hits, rule.times) == (2, 0)
    assert not memory.faults.armed  # a rule used up is removed
    memory.faults.fail("SendMessage", "InternalError")
    with pytest.raises(AwsError) as mapped, aws_errors("sending"):  # bus's own mapping
        await send(memory, url, "x")
    assert (mapped.value.code, mapped.value.operation) == ("InternalError", "sending")


async def test_fail_is_limited_to_its_queue_and_takes_any_exception(memory: MemoryAws) -> None:
    a, b = await queue(memory, "a"), await queue(memory, "b")
    memory.faults.fail("SendMessage", ConnectionResetError("reset"), queue="b", times=None)
    await send(memory, a, "fine")
    for _ in range(3):
        with pytest.raises(ConnectionResetError):
            await send(memory, b, "lost")
    assert len(await receive(memory, a)) == 1
    assert await receive(memory, b) == []


async def test_one_entry_of_a_delete_batch_fails_and_the_rest_is_deleted(
    memory: MemoryAws,
) -> None:
    url = await queue(memory)
    ids = await send(memory, url, "a", "b", "c")
    memory.faults.fail_entry(
        "DeleteMessageBatch", "InternalError", message_id=ids[1], sender_fault=False
    )
    received = {m["MessageId"]: m["ReceiptHandle"] for m in await receive(memory, url)}
    entries = [{"Id": f"e{n}", "ReceiptHandle": received[i]} for n, i in enumerate(ids)]
    answer = await memory.sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    assert [e["Id"] for e in answer["Successful"]] == ["e0", "e2"]
    assert answer["Failed"] == [
        {"Id": "e1", "Code": "InternalError", "SenderFault": False, "Message": "InternalError"}
    ]
    assert list(memory.memory_sqs.queues["q"].messages) == [ids[1]]  # only b is left
    again = await memory.sqs.delete_message_batch(QueueUrl=url, Entries=entries[1:2])
    assert again["Failed"] == []  # the rule was used up


async def test_a_rule_decides_entries_of_a_send_batch(memory: MemoryAws) -> None:
    url = await queue(memory)
    seen: list[BatchEntry] = []

    def decide(entry: BatchEntry) -> dict[str, Any] | None:
        seen.append(entry)
        if entry.entry["MessageBody"].startswith("bad"):
            return entry_failure("InvalidParameterValue", message="no")
        return None

    memory.faults.fail_entries("SendMessageBatch", decide)
    bodies = ["bad-1", "good", "bad-2"]
    entries = [{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies)]
    answer = await memory.sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert [e["Id"] for e in answer["Successful"]] == ["1"]
    assert [(e["Id"], e["Code"], e["SenderFault"]) for e in answer["Failed"]] == [
        ("0", "InvalidParameterValue", True),
        ("2", "InvalidParameterValue", True),
    ]
    assert [m["Body"] for m in await receive(memory, url)] == ["good"]
    assert [e.call.queue for e in seen] == ["q"] * 3
    everything = await memory.sqs.send_message_batch(QueueUrl=url, Entries=entries[::2])
    assert (everything["Successful"], len(everything["Failed"])) == ([], 2)


def test_only_batch_operations_fail_entry_by_entry() -> None:
    with pytest.raises(ValueError, match="ReceiveMessage has no entries"):
        MemoryAws().faults.fail_entries("ReceiveMessage", lambda entry: None)


async def test_a_hook_pauses_a_call_before_it_takes_effect(memory: MemoryAws) -> None:
    url = await queue(memory)
    paused, go = asyncio.Event(), asyncio.Event()

    async def pause(call: Call) -> None:
        paused.set()
        await go.wait()

    memory.faults.hook("SendMessageBatch", "before", pause, times=1)
    entries = [{"Id": "1", "MessageBody": "held"}]
    sending = asyncio.create_task(memory.sqs.send_message_batch(QueueUrl=url, Entries=entries))
    await paused.wait()
    assert await receive(memory, url) == []  # not sent yet
    go.set()
    await sending
    assert [m["Body"] for m in await receive(memory, url)] == ["held"]


async def test_an_after_hook_sees_the_answer_and_can_lose_it(memory: MemoryAws) -> None:
    url = await queue(memory)
    answers: list[Any] = []

    async def lose(call: Call) -> None:
        answers.append(call.response)
        raise ConnectionResetError("the answer was lost")

    memory.faults.hook("SendMessage", "after", lose, times=1)
    with pytest.raises(ConnectionResetError):
        await send(memory, url, "sent anyway")
    assert answers[0]["MessageId"]
    (message,) = await receive(memory, url)  # it took effect: only the answer was lost
    assert message["MessageId"] == answers[0]["MessageId"]


async def test_the_journal_names_operations_queues_and_messages(memory: MemoryAws) -> None:
    url = await queue(memory)
    calls = memory.faults.record()
    ids = await send(memory, url, "a", "b")
    received = await receive(memory, url)
    memory.faults.fail_entry("DeleteMessageBatch", "InternalError", message_id=ids[0])
    entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(received)]
    await memory.sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    memory.faults.fail("ChangeMessageVisibility", "ReceiptHandleIsInvalid")
    with pytest.raises(ClientError):
        await memory.sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=received[0]["ReceiptHandle"], VisibilityTimeout=0
        )
    summary = [(c.service, c.operation, c.queue, c.message_ids, c.failed_ids) for c in calls]
    assert summary == [
        ("sqs", "SendMessage", "q", (ids[0],), ()),
        ("sqs", "SendMessage", "q", (ids[1],), ()),
        ("sqs", "ReceiveMessage", "q", tuple(ids), ()),
        ("sqs", "DeleteMessageBatch", "q", (ids[1],), (ids[0],)),
        ("sqs", "ChangeMessageVisibility", "q", (), ()),
    ]
    assert isinstance(calls[-1].error, ClientError)
    memory.faults.clear()
    await send(memory, url, "c")
    assert len(calls) == 5  # no longer recording
    assert not memory.faults.armed


async def test_other_services_cross_the_same_point(memory: MemoryAws) -> None:
    calls = memory.faults.record()
    memory.faults.fail("Publish", "AuthorizationError")
    topic = (await memory.sns.create_topic(Name="t"))["TopicArn"]
    with pytest.raises(ClientError) as raised:
        await memory.sns.publish(TopicArn=topic, Message="m")
    assert raised.value.response["Error"]["Code"] == "AuthorizationError"
    assert [(c.service, c.operation) for c in calls] == [("sns", "CreateTopic"), ("sns", "Publish")]
