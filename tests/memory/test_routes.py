"""What one SNS or EventBridge call resolves once (subscriptions, rules, targets and the queues
they write to) is resolved again by the next call: a change between two calls is seen by the
second. Also the other shortcuts of the routing path: exact-string attribute policies checked
without converting attributes, well-formed batch entry ids remembered, one JSON text per event
for the targets taking it whole."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.memory import MemoryAws
from bus.memory.batch import _WELL_FORMED, check_batch
from bus.memory.matching import attribute_values, compile_pattern

from .test_routing_caches import reference
from .test_sns import bodies, n, s, subscribed, topic

# -- SNS: a call's routes are its own -------------------------------------------------------------


async def test_subscriptions_and_queues_changed_between_calls_are_seen(memory: MemoryAws) -> None:
    arn = await topic(memory)
    first = await subscribed(memory, arn, "first", RawMessageDelivery="true")
    await memory.sns.publish(TopicArn=arn, Message="one")
    second = await subscribed(memory, arn, "second", RawMessageDelivery="true")
    await memory.sqs.set_queue_attributes(QueueUrl=first, Attributes={"DelaySeconds": "60"})
    await memory.sns.publish(TopicArn=arn, Message="two")
    assert [m["Body"] for m in await bodies(memory, first)] == ["one"]  # "two" is delayed
    assert [m["Body"] for m in await bodies(memory, second)] == ["two"]

    (sub,) = [x for x in memory.memory_sns.topics[arn].subscriptions if x.endpoint.endswith("d")]
    await memory.sns.set_subscription_attributes(
        SubscriptionArn=sub.arn, AttributeName="RawMessageDelivery", AttributeValue="false"
    )
    await memory.sns.publish(TopicArn=arn, Message="three")
    (wrapped,) = await bodies(memory, second)
    assert json.loads(wrapped["Body"])["Message"] == "three"

    await memory.sqs.delete_queue(QueueUrl=second)
    dlq = (await memory.sqs.create_queue(QueueName="sub-dlq"))["QueueUrl"]
    await memory.sns.set_subscription_attributes(
        SubscriptionArn=sub.arn, AttributeName="RedrivePolicy",
        AttributeValue=json.dumps({"deadLetterTargetArn": memory.world.arn("sqs", "sub-dlq")}),
    )  # fmt: skip
    await memory.sns.publish(TopicArn=arn, Message="four", MessageAttributes={"k": s("v")})
    (lost,) = await bodies(memory, dlq)
    assert lost["Body"] == "four"  # the dead-letter queue gets the message raw
    assert lost["MessageAttributes"] == {"k": {"DataType": "String", "StringValue": "v"}}


async def test_each_entry_of_a_batch_meets_the_policies_alone(memory: MemoryAws) -> None:
    arn = await topic(memory)
    kind = await subscribed(memory, arn, "kind", RawMessageDelivery="true",
                            FilterPolicy=json.dumps({"kind": ["a"]}))  # fmt: skip
    size = await subscribed(memory, arn, "size", RawMessageDelivery="true",
                            FilterPolicy=json.dumps({"size": [{"numeric": [">", 5]}]}))  # fmt: skip
    body = await subscribed(memory, arn, "body", RawMessageDelivery="true",
                            FilterPolicyScope="MessageBody",
                            FilterPolicy=json.dumps({"kind": ["b"]}))  # fmt: skip
    entries = [
        {"Id": "0", "Message": '{"kind": "b"}', "MessageAttributes": {"kind": s("a")}},
        {"Id": "1", "Message": '{"kind": "a"}', "MessageAttributes": {"size": n("9")}},
        {"Id": "2", "Message": "not json", "MessageAttributes": {"kind": s("b")}},
        {"Id": "3", "Message": '{"kind": "b"}', "MessageAttributes": {"kind": n("1")}},
    ]
    answer = await memory.sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries)
    assert [e["Id"] for e in answer["Successful"]] == ["0", "1", "2", "3"]
    got = {name: [m["Body"] for m in await bodies(memory, url)]
           for name, url in [("kind", kind), ("size", size), ("body", body)]}  # fmt: skip
    assert got == {"kind": ['{"kind": "b"}'], "size": ['{"kind": "a"}'],
                   "body": ['{"kind": "b"}', '{"kind": "b"}']}  # fmt: skip


# -- exact-string attribute policies --------------------------------------------------------------

ATTRIBUTE = st.one_of(
    st.builds(lambda v: {"DataType": "String", "StringValue": v}, st.sampled_from(["a", "b", "1"])),
    st.builds(lambda v: {"DataType": "Number", "StringValue": v}, st.sampled_from(["1", "a"])),
    st.builds(
        lambda v: {"DataType": "String.Array", "StringValue": v},
        st.sampled_from(['["a", 1]', '["c"]', "[", '"a"']),
    ),
    st.just({"DataType": "Binary", "BinaryValue": b"a"}),
    st.just({"DataType": "String.custom", "StringValue": "a"}),
    st.just({"Type": "String", "Value": "a"}),
    st.just({"DataType": "String"}),
)


@settings(max_examples=300, deadline=None)
@given(
    wanted=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3),
    attributes=st.dictionaries(st.sampled_from(["k", "other"]), ATTRIBUTE, max_size=2),
)
def test_an_exact_string_policy_gives_the_converted_attributes_verdict(
    wanted: list[str], attributes: dict[str, Any]
) -> None:
    policy = {"k": wanted}
    done = compile_pattern(policy)
    assert done.exact == ("k", frozenset(wanted))
    expected = reference(policy, [attribute_values(attributes)])
    assert done.match_attributes(attributes, {}) is expected


def test_only_one_key_of_exact_strings_takes_the_shortcut() -> None:
    assert compile_pattern({"k": ["a", "b"]}).exact == ("k", frozenset({"a", "b"}))
    for policy in ({"k": ["a"], "j": ["b"]}, {"k": ["a", {"prefix": "b"}]}, {"k": {"j": ["a"]}},
                   {"$or": [{"k": ["a"]}, {"j": ["b"]}]}, {"k": ["a", 1]}):  # fmt: skip
        assert compile_pattern(policy).exact is None
    # one key's shortcut is not another's
    values: dict[str, Any] = {}
    assert not compile_pattern({"k": ["a"]}).match_attributes({"j": s("a")}, values)
    assert compile_pattern({"j": ["a"]}).match_attributes({"j": s("a")}, values)


# -- batch entry ids ------------------------------------------------------------------------------


def test_remembered_entry_ids_are_only_well_formed_ones() -> None:
    _WELL_FORMED.clear()  # other tests' ids may have filled it
    check_batch("PublishBatch", [{"Id": "ok-1"}, {"Id": "ok_2"}])
    assert {"ok-1", "ok_2"} <= _WELL_FORMED
    for bad in ("no.dots", "", "x" * 81, 5.5, ["list"]):
        with pytest.raises(ClientError) as caught:
            check_batch("PublishBatch", [{"Id": "ok-1"}, {"Id": bad}])
        assert caught.value.response["Error"]["Code"] == "InvalidBatchEntryId"
        assert bad not in _WELL_FORMED if isinstance(bad, str) else True
    with pytest.raises(ClientError) as caught:
        check_batch("PublishBatch", [{"Id": "ok-1"}, {"Id": "ok-1"}])  # remembered, still unique
    assert caught.value.response["Error"]["Code"] == "BatchEntryIdsNotDistinct"
    check_batch("PublishBatch", [{"Id": 7}])  # botocore would send "7"
    for i in range(5000):
        check_batch("PublishBatch", [{"Id": f"id-{i}"}])
    assert len(_WELL_FORMED) == 4096  # bounded: later ids are checked each time, not remembered


IDS = st.sampled_from(["0", "1", "ok-1", "ok_2", "", "no.dots", "x" * 81, 7, 5.5, None, ("t",)])


def _verdict(entries: list[dict[str, Any]]) -> str | None:
    try:
        check_batch("PublishBatch", entries)
    except ClientError as refused:
        return str(refused.response["Error"]["Code"])
    return None


@settings(max_examples=300, deadline=None)
@given(ids=st.lists(IDS, min_size=1, max_size=10), missing=st.booleans())
def test_a_batch_of_remembered_ids_gets_the_full_checks_verdict(
    ids: list[Any], missing: bool
) -> None:
    """With every well-formed id remembered, the shortcut (all ids remembered, none repeated)
    answers as the id-by-id check does with nothing remembered: malformed, repeated, missing,
    unhashable and non-string ids included."""
    entries: list[dict[str, Any]] = [{"Id": i} for i in ids]
    if missing:
        entries.append({})
    _WELL_FORMED.clear()
    expected = _verdict(entries)
    _WELL_FORMED.update({"0", "1", "ok-1", "ok_2", "7"})
    assert _verdict(entries) == expected


# -- EventBridge: a call's routes are its own -----------------------------------------------------


async def _queue(aws: MemoryAws, name: str) -> tuple[str, str]:
    url = (await aws.sqs.create_queue(QueueName=name))["QueueUrl"]
    return str(url), aws.world.arn("sqs", name)


async def _events(aws: MemoryAws, url: str) -> list[dict[str, Any]]:
    answer = await aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                           MessageAttributeNames=["All"])  # fmt: skip
    return list(answer.get("Messages", []))


async def test_rules_and_targets_changed_between_calls_are_seen(memory: MemoryAws) -> None:
    (whole, whole_arn), (also, also_arn) = (
        await _queue(memory, "whole"),
        await _queue(memory, "also"),
    )
    shaped, shaped_arn = await _queue(memory, "shaped")
    dlq, dlq_arn = await _queue(memory, "target-dlq")
    await memory.events.put_rule(Name="r", EventPattern=json.dumps({"source": ["s"]}))
    await memory.events.put_targets(Rule="r", Targets=[
        {"Id": "whole", "Arn": whole_arn}, {"Id": "also", "Arn": also_arn},
        {"Id": "shaped", "Arn": shaped_arn, "InputPath": "$.detail.n"},
    ])  # fmt: skip
    entry = {"Source": "s", "DetailType": "t", "Detail": json.dumps({"n": 1})}
    other = {**entry, "Source": "other"}  # matches no rule: the targets are looked up later
    await memory.events.put_events(Entries=[other, entry, other, {**entry, "Detail": '{"n": 2}'}])
    one, two = await _events(memory, whole)
    assert [m["Body"] for m in await _events(memory, also)] == [one["Body"], two["Body"]]
    assert json.loads(one["Body"])["detail"] == {"n": 1}
    assert json.loads(two["Body"])["detail"] == {"n": 2}
    assert [m["Body"] for m in await _events(memory, shaped)] == ["1", "2"]

    pattern = json.dumps({"source": ["s"]})
    await memory.events.put_rule(Name="r", EventPattern=pattern, State="DISABLED")
    await memory.events.put_events(Entries=[entry])
    assert await _events(memory, also) == []
    await memory.events.put_rule(Name="r", EventPattern=pattern)
    await memory.events.remove_targets(Rule="r", Ids=["whole", "shaped"])
    await memory.events.put_targets(Rule="r", Targets=[
        {"Id": "also", "Arn": also_arn, "DeadLetterConfig": {"Arn": dlq_arn}}])  # fmt: skip
    await memory.sqs.delete_queue(QueueUrl=also)
    await memory.events.put_events(Entries=[entry])
    (dead,) = await _events(memory, dlq)
    assert json.loads(dead["Body"])["detail"] == {"n": 1}
    assert dead["MessageAttributes"]["TARGET_ARN"]["StringValue"] == also_arn
    assert dead["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "NO_RESOURCE"
    assert await _events(memory, whole) == []
