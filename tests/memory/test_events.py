"""In-memory EventBridge: rules, patterns, the delivered event, input path and transformer, DLQs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bus.memory import MemoryAws


async def queue(aws: MemoryAws, name: str) -> tuple[str, str]:
    url = (await aws.sqs.create_queue(QueueName=name))["QueueUrl"]
    return str(url), f"arn:aws:sqs:us-east-1:{aws.world.account_id}:{name}"


async def rule(aws: MemoryAws, pattern: dict[str, Any], *targets: dict[str, Any]) -> None:
    await aws.events.put_rule(Name="r", EventBusName="shop", EventPattern=json.dumps(pattern))
    await aws.events.put_targets(Rule="r", EventBusName="shop", Targets=list(targets))


async def put(aws: MemoryAws, detail: dict[str, Any], **entry: Any) -> dict[str, Any]:
    fields = {"Source": "shop", "DetailType": "OrderPlaced", "EventBusName": "shop", **entry}
    return dict(await aws.events.put_events(Entries=[{**fields, "Detail": json.dumps(detail)}]))


async def bodies(aws: MemoryAws, url: str) -> list[dict[str, Any]]:
    answer = await aws.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    return list(answer.get("Messages", []))


@pytest.fixture
async def shop(memory: MemoryAws) -> MemoryAws:
    await memory.events.create_event_bus(Name="shop")
    return memory


async def test_a_matching_event_arrives_as_eventbridge_sends_it(shop: MemoryAws) -> None:
    url, arn = await queue(shop, "fraud")
    await rule(shop, {"source": ["shop"], "detail": {"total": [{"numeric": [">=", 1000]}]}},
               {"Id": "t", "Arn": arn})  # fmt: skip
    when = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)
    sent = await put(shop, {"total": 5000}, Time=when, Resources=["r1"])
    await put(shop, {"total": 5})
    (got,) = await bodies(shop, url)
    event = json.loads(got["Body"])
    assert event == {
        "version": "0", "id": sent["Entries"][0]["EventId"], "detail-type": "OrderPlaced",
        "source": "shop", "account": shop.world.account_id, "time": "2026-12-02T10:00:00Z",
        "region": "us-east-1", "resources": ["r1"], "detail": {"total": 5000},
    }  # fmt: skip


async def test_input_path_and_transformer_shape_the_body(shop: MemoryAws) -> None:
    path_url, path_arn = await queue(shop, "path")
    tx_url, tx_arn = await queue(shop, "tx")
    transformer = {
        "InputPathsMap": {"id": "$.detail.order.id", "lines": "$.detail.order.lines"},
        "InputTemplate": '{"order": <id>, "text": "order <id> has <lines> lines", "n": <lines>}',
    }
    await rule(shop, {"source": ["shop"]},
               {"Id": "p", "Arn": path_arn, "InputPath": "$.detail.order"},
               {"Id": "x", "Arn": tx_arn, "InputTransformer": transformer})  # fmt: skip
    await put(shop, {"order": {"id": "o-1", "lines": 3}})
    (by_path,) = await bodies(shop, path_url)
    assert json.loads(by_path["Body"]) == {"id": "o-1", "lines": 3}
    (by_template,) = await bodies(shop, tx_url)
    assert json.loads(by_template["Body"]) == {"order": "o-1", "text": "order o-1 has 3 lines",
                                               "n": 3}  # fmt: skip


async def test_an_undeliverable_event_goes_to_the_target_dlq(shop: MemoryAws) -> None:
    dlq_url, dlq_arn = await queue(shop, "undelivered")
    missing = f"arn:aws:sqs:us-east-1:{shop.world.account_id}:gone"
    await rule(shop, {"source": ["shop"]},
               {"Id": "t", "Arn": missing, "DeadLetterConfig": {"Arn": dlq_arn}})  # fmt: skip
    await put(shop, {"a": 1})
    (dead,) = await bodies(shop, dlq_url)
    assert json.loads(dead["Body"])["detail"] == {"a": 1}
    assert dead["MessageAttributes"]["TARGET_ARN"]["StringValue"] == missing
    assert dead["MessageAttributes"]["RULE_ARN"]["StringValue"].endswith(":rule/shop/r")


async def test_invalid_patterns_and_entries_are_refused(shop: MemoryAws) -> None:
    for pattern in ({"source": "shop"}, {"a": [{"wildcard": "x**"}]}, {}):
        with pytest.raises(ClientError) as refused:
            await shop.events.put_rule(Name="r", EventBusName="shop",
                                       EventPattern=json.dumps(pattern))  # fmt: skip
        assert refused.value.response["Error"]["Code"] == "InvalidEventPatternException"
    answer = await shop.events.put_events(
        Entries=[
            {"Source": "s", "DetailType": "t", "Detail": "not json", "EventBusName": "shop"},
            {"Source": "s", "DetailType": "t", "Detail": "{}", "EventBusName": "nope"},
            {"Source": "s", "DetailType": "t", "Detail": "{}", "EventBusName": "shop"},
        ]
    )
    assert answer["FailedEntryCount"] == 2
    assert [e.get("ErrorCode") for e in answer["Entries"]] == [
        "MalformedDetail", "NotFoundException", None,
    ]  # fmt: skip
    with pytest.raises(ClientError) as too_many:
        await shop.events.put_events(Entries=[{"Source": "s"}] * 11)
    assert too_many.value.response["Error"]["Code"] == "ValidationException"


async def test_a_rule_with_targets_cannot_be_deleted(shop: MemoryAws) -> None:
    _, arn = await queue(shop, "q")
    await rule(shop, {"source": ["shop"]}, {"Id": "t", "Arn": arn})
    with pytest.raises(ClientError) as refused:
        await shop.events.delete_rule(Name="r", EventBusName="shop")
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    await shop.events.remove_targets(Rule="r", EventBusName="shop", Ids=["t"])
    await shop.events.delete_rule(Name="r", EventBusName="shop")
    assert (await shop.events.list_rules(EventBusName="shop"))["Rules"] == []
