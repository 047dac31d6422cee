"""In-memory SNS: fan-out with filter policies, raw and wrapped delivery, FIFO topics, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bus.memory import MemoryAws


def s(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def n(value: str) -> dict[str, str]:
    return {"DataType": "Number", "StringValue": value}


async def topic(aws: MemoryAws, name: str = "orders", **attributes: str) -> str:
    return str((await aws.sns.create_topic(Name=name, Attributes=attributes))["TopicArn"])


async def subscribed(aws: MemoryAws, topic_arn: str, name: str, **attributes: str) -> str:
    fifo = {"FifoQueue": "true"} if name.endswith(".fifo") else {}
    url = (await aws.sqs.create_queue(QueueName=name, Attributes=fifo))["QueueUrl"]
    arn = f"arn:aws:sqs:us-east-1:{aws.world.account_id}:{name}"
    await aws.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return str(url)


async def bodies(aws: MemoryAws, url: str) -> list[dict[str, Any]]:
    answer = await aws.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
    )  # fmt: skip
    return list(answer.get("Messages", []))


async def test_wrapped_delivery_carries_the_sns_notification(memory: MemoryAws) -> None:
    arn = await topic(memory)
    url = await subscribed(memory, arn, "all")
    sent = await memory.sns.publish(
        TopicArn=arn, Message="hello", Subject="greeting",
        MessageAttributes={"kind": s("hi"), "n": n("3")},
    )  # fmt: skip
    (got,) = await bodies(memory, url)
    notice = json.loads(got["Body"])
    assert set(notice) == {
        "Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
        "Signature", "SigningCertURL", "UnsubscribeURL", "MessageAttributes",
    }  # fmt: skip
    assert notice["Type"] == "Notification"
    assert notice["MessageId"] == sent["MessageId"]
    assert notice["TopicArn"] == arn
    assert notice["Message"] == "hello"
    assert notice["MessageAttributes"] == {
        "kind": {"Type": "String", "Value": "hi"},
        "n": {"Type": "Number", "Value": "3"},
    }
    assert notice["Timestamp"].endswith("Z")
    assert "MessageAttributes" not in got  # wrapped: the attributes are inside the body


async def test_raw_delivery_passes_body_and_attributes(memory: MemoryAws) -> None:
    arn = await topic(memory)
    url = await subscribed(memory, arn, "raw", RawMessageDelivery="true")
    await memory.sns.publish(TopicArn=arn, Message="hello", MessageAttributes={"kind": s("hi")})
    (got,) = await bodies(memory, url)
    assert got["Body"] == "hello"
    assert got["MessageAttributes"] == {"kind": s("hi")}


async def test_filter_policies_route_on_attributes_and_on_the_body(memory: MemoryAws) -> None:
    arn = await topic(memory)
    big = await subscribed(
        memory, arn, "big", FilterPolicy=json.dumps({"total": [{"numeric": [">=", 100]}]})
    )
    tagged = await subscribed(memory, arn, "tagged", FilterPolicy=json.dumps({"tags": ["red"]}))
    body = await subscribed(
        memory, arn, "body", RawMessageDelivery="true", FilterPolicyScope="MessageBody",
        FilterPolicy=json.dumps({"order": {"country": [{"prefix": "D"}]}}),
    )  # fmt: skip
    await memory.sns.publish(
        TopicArn=arn, Message=json.dumps({"order": {"country": "DE"}}),
        MessageAttributes={"total": n("150"), "tags": {"DataType": "String.Array",
                                                       "StringValue": '["blue", "red"]'}},
    )  # fmt: skip
    await memory.sns.publish(
        TopicArn=arn, Message=json.dumps({"order": {"country": "FR"}}),
        MessageAttributes={"total": s("150"), "tags": s("red")},  # a string is not a number
    )  # fmt: skip
    assert len(await bodies(memory, big)) == 1
    assert len(await bodies(memory, tagged)) == 2
    (german,) = await bodies(memory, body)
    assert json.loads(german["Body"]) == {"order": {"country": "DE"}}


async def test_invalid_filter_policies_are_refused(memory: MemoryAws) -> None:
    arn = await topic(memory)
    await memory.sqs.create_queue(QueueName="q")
    endpoint = f"arn:aws:sqs:us-east-1:{memory.world.account_id}:q"
    for policy in ({"a": "x"}, {"a": [{"wildcard": "x*"}]}, {"a": {"b": ["x"]}}):
        with pytest.raises(ClientError) as refused:
            await memory.sns.subscribe(
                TopicArn=arn, Protocol="sqs", Endpoint=endpoint,
                Attributes={"FilterPolicy": json.dumps(policy)},
            )  # fmt: skip
        assert refused.value.response["Error"]["Code"] == "InvalidParameter"
        assert "FilterPolicy" in refused.value.response["Error"]["Message"]
    assert memory.memory_sns.topics[arn].subscriptions == []


async def test_fifo_topics_keep_group_and_deduplicate(memory: MemoryAws) -> None:
    arn = await topic(memory, "ledger.fifo", FifoTopic="true")
    url = await subscribed(memory, arn, "ledger.fifo", RawMessageDelivery="true")
    with pytest.raises(ClientError) as no_group:
        await memory.sns.publish(TopicArn=arn, Message="x", MessageDeduplicationId="d")
    assert no_group.value.response["Error"]["Code"] == "InvalidParameter"
    entry = {"Message": "x", "MessageGroupId": "acct-1", "MessageDeduplicationId": "d1"}
    first = await memory.sns.publish(TopicArn=arn, **entry)
    again = await memory.sns.publish(TopicArn=arn, **entry)
    assert again["MessageId"] == first["MessageId"]
    (got,) = await bodies(memory, url)
    assert got["Attributes"]["MessageGroupId"] == "acct-1"
    assert got["Attributes"]["MessageDeduplicationId"] == "d1"


async def test_publish_batch_answers_per_entry_and_checks_the_batch(memory: MemoryAws) -> None:
    arn = await topic(memory)
    url = await subscribed(memory, arn, "q", RawMessageDelivery="true")
    answer = await memory.sns.publish_batch(
        TopicArn=arn,
        PublishBatchRequestEntries=[
            {"Id": "ok", "Message": "fine"},
            {"Id": "bad", "Message": "x", "MessageAttributes": {"a": {"DataType": "Weird",
                                                                        "StringValue": "1"}}},
        ],
    )  # fmt: skip
    assert [e["Id"] for e in answer["Successful"]] == ["ok"]
    assert answer["Failed"][0]["Id"] == "bad"
    assert answer["Failed"][0]["SenderFault"] is True
    assert [m["Body"] for m in await bodies(memory, url)] == ["fine"]
    with pytest.raises(ClientError) as twice:
        await memory.sns.publish_batch(
            TopicArn=arn,
            PublishBatchRequestEntries=[{"Id": "a", "Message": "x"}, {"Id": "a", "Message": "y"}],
        )
    assert twice.value.response["Error"]["Code"] == "BatchEntryIdsNotDistinct"
    with pytest.raises(ClientError) as missing:
        await memory.sns.publish(TopicArn=arn + "-nope", Message="x")
    assert missing.value.response["Error"]["Code"] == "NotFound"


async def test_attribute_types_are_refused_naming_the_first_bad_one(memory: MemoryAws) -> None:
    """Custom types of String, Number and Binary pass; the first attribute of another type, or a
    String.Array that is not a JSON array, is named in the refusal (after valid ones too)."""
    arn = await topic(memory)
    url = await subscribed(memory, arn, "q", RawMessageDelivery="true")
    custom = {"DataType": "String.custom", "StringValue": "c"}
    entries = [
        {"Id": "plain", "Message": "1", "MessageAttributes": {"s": s("a"), "n": n("1")}},
        {"Id": "custom", "Message": "2", "MessageAttributes": {"s": s("a"), "c": custom,
                                                               "b": {"DataType": "Binary.x",
                                                                     "BinaryValue": b"b"}}},
        {"Id": "weird", "Message": "3", "MessageAttributes": {"s": s("a"), "c": custom,
                                                              "w": {"DataType": "Weird",
                                                                    "StringValue": "w"},
                                                              "v": {"DataType": "Odd",
                                                                    "StringValue": "v"}}},
        {"Id": "array", "Message": "4", "MessageAttributes": {
            "ok": {"DataType": "String.Array", "StringValue": '["a", 1]'},
            "no": {"DataType": "String.Array", "StringValue": '{"a": 1}'}}},
    ]  # fmt: skip
    answer = await memory.sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries)
    assert [e["Id"] for e in answer["Successful"]] == ["plain", "custom"]
    failed = {e["Id"]: (e["Code"], e["Message"]) for e in answer["Failed"]}
    assert failed == {
        "weird": ("ParameterValueInvalid", "Invalid parameter: MessageAttributes: The message "
                  "attribute 'w' has an invalid message attribute type, the set of supported "
                  "type prefixes is Binary, Number, and String."),
        "array": ("ParameterValueInvalid", "Invalid parameter: MessageAttributes: The message "
                  "attribute 'no' with type 'String.Array' must be an array."),
    }  # fmt: skip
    assert [m["Body"] for m in await bodies(memory, url)] == ["1", "2"]
