"""Differential tests: the in-memory routing against the embedded LocalStack, on generated filter
policies (attribute and body scope), event patterns and messages. Each example subscribes (or
binds) one queue with the generated policy and one without, publishes up to ten messages, and
compares which of them LocalStack delivered with what ``bus.memory.matching`` predicts.

Where LocalStack differs from AWS's documentation, AWS's documentation wins for the in-memory AWS
and the case is skipped here explicitly (``localstack_differs``), with the reason.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, Phase, assume, example, given, reject, settings
from hypothesis import strategies as st

from bus.aws import AwsClients
from bus.memory import matches_event_pattern, matches_filter_policy
from bus.settings import Settings
from bus.topology.patterns import check_event_pattern, check_filter_policy
from tests.memory.strategies import attributes, document, flat_pattern, nested_pattern

pytestmark = pytest.mark.aws
T = TypeVar("T")

EXAMPLES = settings(
    max_examples=10,
    deadline=None,
    derandomize=True,  # the same examples in every run: CI is reproducible
    phases=[Phase.explicit, Phase.generate],  # no shrinking: every LocalStack round trip is slow
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LONG = pytest.mark.timeout(400)


def localstack_differs(policy: dict[str, Any]) -> str | None:
    """Why LocalStack 4.13.1 is known to route ``policy`` unlike AWS's documentation (None: it
    does not)."""
    return None


def _array_holds_non_strings(messages: list[dict[str, Any]], policy: dict[str, Any]) -> bool:
    """A message whose ``String.Array`` attribute under one of the policy's keys holds a number,
    boolean or null: LocalStack 4.13.1 fails on it with an internal error when a string operator
    (or an exact string) applies, raised for ``Publish`` (see ``_localstack``) but, within a
    ``PublishBatch``, silently dropping the filtered deliveries of the whole batch. AWS documents
    such elements as valid and matched element by element (the in-memory AWS does that)."""
    for message in messages:
        for key, attribute in message.items():
            if key not in policy or attribute.get("DataType") != "String.Array":
                continue
            try:
                values = json.loads(attribute["StringValue"])
            except ValueError:
                continue
            if isinstance(values, list) and any(not isinstance(v, str) for v in values):
                return True
    return False


async def _localstack(call: Awaitable[T]) -> T:
    """``await call``; an example LocalStack cannot evaluate is skipped (reported by Hypothesis)
    rather than failed: LocalStack 4.13.1 answers InternalError ("'int' object has no attribute
    'lower'") to a publish whose String.Array attribute holds a number when a policy applies a
    string operator to it; AWS documents String.Array elements as strings, numbers, booleans or
    null, matched element by element (the in-memory AWS does that)."""
    try:
        return await call
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("InternalError", "InternalFailure"):
            reject()
        raise


async def _queue(aws: AwsClients, name: str) -> tuple[str, str]:
    url = (await aws.sqs.create_queue(QueueName=name))["QueueUrl"]
    arn = (await aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]))[
        "Attributes"
    ]["QueueArn"]
    return url, arn


async def _receive(aws: AwsClients, url: str, wait: int) -> set[int]:
    """The ``i`` of the messages one receive of up to ten brings."""
    answer = await aws.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
    )
    bodies = [json.loads(m["Body"]) for m in answer.get("Messages", [])]
    return {int(b["detail"]["i"] if "detail" in b else b["i"]) for b in bodies}


async def _indices(aws: AwsClients, url: str, until: int | None = None) -> set[int]:
    """The ``i`` of every message in the queue: until ``until`` arrived (at most ~12 s: a loaded
    LocalStack may deliver late); without ``until``, what one long poll of a second finds, and
    what receives without waiting find after it until one comes back empty. The callers ask so
    for the filtered queue after the unfiltered one received the whole publish, and LocalStack
    filters while it answers the publish, then sends each subscription its whole batch at once
    (EventBridge sends before PutEvents answers): those messages are there, or on their way."""
    found = await _receive(aws, url, 1)
    if until is None:
        while more := await _receive(aws, url, 0):
            found |= more
        return found
    for _ in range(11):
        if len(found) >= until:
            break
        found |= await _receive(aws, url, 1)
    return found


@pytest_asyncio.fixture(loop_scope="session")
async def aws(bus_settings: Settings) -> AsyncIterator[AwsClients]:
    """bus.testing's ``aws``, with two attempts per call instead of five: a publish LocalStack
    cannot evaluate answers InternalError every time (see ``_localstack``), and four attempts more
    spent seconds of backoff on each such example before it was rejected."""
    async with AwsClients(bus_settings.model_copy(update={"max_attempts": 2})) as clients:
        yield clients


async def _through_sns(
    aws: AwsClients, policy: dict[str, Any], scope: str, messages: list[tuple[str, dict[str, Any]]]
) -> set[int]:
    name = "fid-" + uuid.uuid4().hex[:10]
    topic = (await aws.sns.create_topic(Name=name))["TopicArn"]
    (url, arn), (all_url, all_arn) = await asyncio.gather(
        _queue(aws, name), _queue(aws, name + "-all")
    )
    try:
        await aws.sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=arn,
            Attributes={"RawMessageDelivery": "true", "FilterPolicyScope": scope,
                        "FilterPolicy": json.dumps(policy)},
        )  # fmt: skip
        await aws.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=all_arn,
                                Attributes={"RawMessageDelivery": "true"})  # fmt: skip
        entries: list[Any] = [
            {"Id": str(i), "Message": body, **({"MessageAttributes": attrs} if attrs else {})}
            for i, (body, attrs) in enumerate(messages)
        ]
        await _localstack(aws.sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries))
        await _indices(aws, all_url, until=len(messages))
        return await _indices(aws, url)
    finally:
        await aws.sns.delete_topic(TopicArn=topic)
        await asyncio.gather(
            aws.sqs.delete_queue(QueueUrl=url), aws.sqs.delete_queue(QueueUrl=all_url)
        )


@given(
    policy=flat_pattern(eventbridge=False), messages=st.lists(attributes(), min_size=1, max_size=10)
)
@EXAMPLES
@LONG
async def test_attribute_policies_route_as_localstack_does(
    aws: AwsClients, policy: dict[str, Any], messages: list[dict[str, Any]]
) -> None:
    assume(not check_filter_policy(policy, "MessageAttributes"))
    assume(localstack_differs(policy) is None)
    assume(not _array_holds_non_strings(messages, policy))
    expected = {i for i, m in enumerate(messages) if matches_filter_policy(policy, m, "")}
    bodies = [(json.dumps({"i": i}), m) for i, m in enumerate(messages)]
    assert await _through_sns(aws, policy, "MessageAttributes", bodies) == expected, policy


@given(
    policy=nested_pattern(eventbridge=False),
    documents=st.lists(document(), min_size=1, max_size=10),
)
@EXAMPLES
@LONG
async def test_body_policies_route_as_localstack_does(
    aws: AwsClients, policy: dict[str, Any], documents: list[dict[str, Any]]
) -> None:
    assume(not check_filter_policy(policy, "MessageBody"))
    assume(localstack_differs(policy) is None)
    bodies = [json.dumps({**d, "i": i}) for i, d in enumerate(documents)]
    expected = {
        i for i, b in enumerate(bodies) if matches_filter_policy(policy, {}, b, "MessageBody")
    }
    got = await _through_sns(aws, policy, "MessageBody", [(b, {}) for b in bodies])
    assert got == expected, policy


@example(  # anything-but of a string operator matches numbers (a difference once found here)
    pattern={"a": [{"exists": False}, {"anything-but": {"prefix": "blue"}}]},
    documents=[{"a": -3}, {"a": "blue"}, {}, {"a": "red"}],
)
@given(
    pattern=nested_pattern(eventbridge=True),
    documents=st.lists(document(), min_size=1, max_size=10),
)
@EXAMPLES
@LONG
async def test_event_patterns_route_as_localstack_does(
    aws: AwsClients, pattern: dict[str, Any], documents: list[dict[str, Any]]
) -> None:
    full = {"source": ["fid"], "detail": pattern}
    assume(not check_event_pattern(full))
    assume(localstack_differs(pattern) is None)
    details = [{**d, "i": i} for i, d in enumerate(documents)]
    events = [{"source": "fid", "detail-type": "t", "detail": d} for d in details]
    expected = {i for i, e in enumerate(events) if matches_event_pattern(full, e)}
    name = "fid-" + uuid.uuid4().hex[:10]
    await aws.events.create_event_bus(Name=name)
    (url, arn), (all_url, all_arn) = await asyncio.gather(
        _queue(aws, name), _queue(aws, name + "-all")
    )
    rules = {"r": (full, arn), "all": ({"source": ["fid"]}, all_arn)}
    try:
        for rule, (p, target) in rules.items():
            await aws.events.put_rule(Name=rule, EventBusName=name, EventPattern=json.dumps(p))
            await aws.events.put_targets(Rule=rule, EventBusName=name,
                                         Targets=[{"Id": "t", "Arn": target}])  # fmt: skip
        await aws.events.put_events(
            Entries=[{"Source": "fid", "DetailType": "t", "Detail": json.dumps(d),
                      "EventBusName": name} for d in details]
        )  # fmt: skip
        await _indices(aws, all_url, until=len(details))
        got = await _indices(aws, url)
    finally:
        for rule in rules:
            await aws.events.remove_targets(Rule=rule, EventBusName=name, Ids=["t"])
            await aws.events.delete_rule(Name=rule, EventBusName=name)
        await aws.events.delete_event_bus(Name=name)
        await asyncio.gather(
            aws.sqs.delete_queue(QueueUrl=url), aws.sqs.delete_queue(QueueUrl=all_url)
        )
    assert got == expected, pattern


BODY_CASES: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [
    ({"kind": ["order"]}, [{"kind": "order"}, {"kind": "refund"}, {}]),
    ({"order": {"country": ["DE", "FR"]}}, [{"order": {"country": "DE"}}, {"order": {"country": "US"}}, {"order": "DE"}]),
    ({"total": [{"numeric": [">=", 100, "<", 200]}]}, [{"total": 100}, {"total": 150.5}, {"total": 200}, {"total": None}]),
    ({"sku": [{"prefix": "ab"}], "note": [{"suffix": ".txt"}]}, [{"sku": "abc", "note": "a.txt"}, {"sku": "xab", "note": "a.txt"}, {"sku": "abc"}]),
    ({"coupon": [{"exists": False}], "kind": ["order"]}, [{"kind": "order"}, {"kind": "order", "coupon": "x"}]),
    ({"state": [{"anything-but": ["closed", "void"]}]}, [{"state": "open"}, {"state": "closed"}, {"state": 3}]),
    ({"tags": ["vip"]}, [{"tags": ["new", "vip"]}, {"tags": ["new"]}, {"tags": "vip"}]),
    ({"$or": [{"a": ["1"]}, {"b": [{"numeric": [">", 5]}]}]}, [{"a": "1"}, {"b": 6}, {"b": 2}, {"a": 1}]),
    ({"name": [{"equals-ignore-case": "bob"}]}, [{"name": "BoB"}, {"name": "alice"}]),
    ({"ip": [{"cidr": "10.0.0.0/24"}]}, [{"ip": "10.0.0.7"}, {"ip": "10.0.1.7"}]),
]  # fmt: skip
"""Body-scope policies with documents some of which match: the generated examples above happen to
deliver nothing (a random document rarely matches a random policy), so these prove that what does
match is delivered alike. Left out: a JSON string under a numeric condition ({"total": "150"}):
LocalStack 4.13.1 compares it as a number and delivers it; AWS documents numeric matching of body
properties only with JSON numbers, and the in-memory AWS matches numbers only, as EventBridge
documents it does."""


@LONG
async def test_body_policies_that_match_some_documents_route_as_localstack_does(
    aws: AwsClients,
) -> None:
    async def one(policy: dict[str, Any], documents: list[dict[str, Any]]) -> None:
        assert not check_filter_policy(policy, "MessageBody"), policy
        bodies = [json.dumps({**d, "i": i}) for i, d in enumerate(documents)]
        expected = {
            i for i, b in enumerate(bodies) if matches_filter_policy(policy, {}, b, "MessageBody")
        }
        assert 0 < len(expected) < len(bodies), (policy, expected)  # the case proves both ways
        got = await _through_sns(aws, policy, "MessageBody", [(b, {}) for b in bodies])
        assert got == expected, policy

    await asyncio.gather(*(one(policy, documents) for policy, documents in BODY_CASES))
