"""The in-memory DynamoDB's items and expressions: one script of item calls answered alike by it and
the emulator's DynamoDB (ministack), and what it refuses rather than evaluate wrongly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bus.aws import AwsClients
from bus.memory import MemoryAws

Step = tuple[str, Callable[[], Awaitable[Any]]]


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def script(db: Any, table: str) -> list[Step]:
    def key(k: str) -> dict[str, Any]:
        return {"id": _s(k)}

    def put(k: str, **attrs: Any) -> dict[str, Any]:
        return {"TableName": table, "Item": {"id": _s(k), **attrs}}

    item = {"a": _n(5), "b": _s("blue"), "c": _n(7)}
    values = {":five": _n(5), ":six": _n(6), ":blue": _s("blue"), ":red": _s("red"),
              ":seven": _n(7), ":bl": _s("bl"), ":one": _n(1), ":zero": _n(0)}  # fmt: skip

    def when(expression: str, *used: str, **more: Any) -> dict[str, Any]:
        given = {"ExpressionAttributeValues": {u: values[u] for u in used}} if used else {}
        return {"ConditionExpression": expression, **given, **more}

    return [
        ("put new", lambda: db.put_item(**put("k1", **item),
                                        **when("attribute_not_exists(id)"))),
        ("put again refused, old item returned", lambda: db.put_item(
            **put("k1"), **when("attribute_not_exists(id)"),
            ReturnValuesOnConditionCheckFailure="ALL_OLD")),
        ("AND binds tighter than OR (true)", lambda: db.put_item(
            **put("k1", **item), **when("a = :five OR b = :red AND c = :six", ":five", ":red", ":six"))),
        ("AND binds tighter than OR (false)", lambda: db.put_item(
            **put("k1", **item), **when("a = :six OR b = :blue AND c = :six", ":six", ":blue"))),
        ("NOT binds tighter than AND", lambda: db.put_item(
            **put("k1", **item), **when("NOT a = :six AND b = :blue", ":six", ":blue"))),
        ("parentheses", lambda: db.put_item(
            **put("k1", **item), **when("(a = :six OR b = :blue) AND c = :six", ":six", ":blue"))),
        ("BETWEEN", lambda: db.put_item(
            **put("k1", **item), **when("c BETWEEN :five AND :seven", ":five", ":seven"))),
        ("IN", lambda: db.put_item(
            **put("k1", **item), **when("b IN (:red, :blue)", ":red", ":blue"))),
        ("a number is not equal to a string", lambda: db.put_item(
            **put("k1", **item), **when("a <> :blue", ":blue"))),
        ("nor less than one", lambda: db.put_item(
            **put("k1", **item), **when("a < :blue", ":blue"))),
        ("a missing attribute is not equal", lambda: db.put_item(
            **put("k1", **item), **when("z <> :blue", ":blue"))),
        ("nor equal", lambda: db.put_item(
            **put("k1", **item), **when("z = :blue", ":blue"))),
        ("begins_with", lambda: db.put_item(
            **put("k1", **item), **when("begins_with(b, :bl)", ":bl"))),
        ("names", lambda: db.put_item(
            **put("k1", **item), **when("#x < :six", ":six", ExpressionAttributeNames={"#x": "a"}))),
        ("an unused value is refused", lambda: db.put_item(
            **put("k1", **item), **when("a = :five", ":five", ":six"))),
        ("an empty map of values is refused", lambda: db.put_item(
            **put("k1", **item), ConditionExpression="attribute_exists(id)",
            ExpressionAttributeValues={})),
        ("an undefined value is refused", lambda: db.put_item(
            **put("k1", **item), **when("a = :nine", ":five"))),
        ("update: set, arithmetic, if_not_exists, remove", lambda: db.update_item(
            TableName=table, Key=key("k1"),
            UpdateExpression="SET a = a + :one, d = if_not_exists(d, :zero), b = :red REMOVE c",
            ExpressionAttributeValues={":one": _n(1), ":zero": _n(0), ":red": _s("red")},
            ReturnValues="ALL_NEW")),
        ("update a missing item creates it", lambda: db.update_item(
            TableName=table, Key=key("k2"), UpdateExpression="SET a = :one",
            ExpressionAttributeValues={":one": _n(1)}, ReturnValues="ALL_NEW")),
        ("conditional update refused", lambda: db.update_item(
            TableName=table, Key=key("k2"), UpdateExpression="SET a = :six",
            **when("a > :five", ":five", ":six"))),
        ("update of the key refused", lambda: db.update_item(
            TableName=table, Key=key("k2"), UpdateExpression="SET id = :red",
            ExpressionAttributeValues={":red": _s("red")})),
        ("get", lambda: db.get_item(TableName=table, Key=key("k1"), ConsistentRead=True)),
        ("get missing", lambda: db.get_item(TableName=table, Key=key("nope"))),
        ("a key with another attribute is refused", lambda: db.get_item(
            TableName=table, Key={**key("k1"), "a": _n(1)})),
        ("a key of the wrong type is refused", lambda: db.get_item(
            TableName=table, Key={"id": _n(1)})),
        ("conditional delete refused", lambda: db.delete_item(
            TableName=table, Key=key("k2"), **when("a = :six", ":six"))),
        ("delete, old returned", lambda: db.delete_item(
            TableName=table, Key=key("k2"), ReturnValues="ALL_OLD")),
        ("delete missing", lambda: db.delete_item(TableName=table, Key=key("k2"))),
    ]  # fmt: skip


def _outcome(answer: Any) -> Any:
    return {k: answer[k] for k in ("Item", "Attributes") if k in answer}


async def run(db: Any, table: str) -> list[tuple[str, Any]]:
    await db.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    out: list[tuple[str, Any]] = []
    try:
        for label, call in script(db, table):
            try:
                out.append((label, _outcome(await call())))
            except ClientError as exc:
                code = exc.response["Error"]["Code"]
                out.append((label, (code, exc.response.get("Item"))))  # type: ignore[misc]
    finally:
        await db.delete_table(TableName=table)
    return out


@pytest.mark.aws
async def test_the_in_memory_dynamodb_answers_as_the_emulator_does(
    aws: AwsClients, bus_env: str
) -> None:
    table = f"{bus_env}-items"
    expected = await run(aws.dynamodb, table)
    async with MemoryAws() as memory:
        got = await run(memory.dynamodb, table)
    for (label, want), (_, have) in zip(expected, got, strict=True):
        assert (label, have) == (label, want)
    outcome = dict(got)
    assert outcome["put again refused, old item returned"] == (
        "ConditionalCheckFailedException",
        {"id": _s("k1"), "a": _n(5), "b": _s("blue"), "c": _n(7)},
    )
    assert outcome["AND binds tighter than OR (false)"][0] == "ConditionalCheckFailedException"
    assert outcome["update: set, arithmetic, if_not_exists, remove"] == {
        "Attributes": {"id": _s("k1"), "a": _n(6), "b": _s("red"), "d": _n(0)}
    }


@pytest.mark.parametrize(
    ("expression", "refused"),
    [
        ("size(a) > :v", "size"),
        ("contains(a, :v)", "contains"),
        ("a.b = :v", "nested attribute paths"),
        ("a[0] = :v", "nested attribute paths"),
        ("a = :v AND", "expected more"),
        ("a = :v)", r"unexpected '\)'"),
        ("AND = :v", "unexpected 'AND'"),
    ],
)
async def test_what_it_does_not_implement_is_refused_not_guessed(
    expression: str, refused: str
) -> None:
    async with MemoryAws() as memory:
        db = memory.dynamodb
        await db.create_table(
            TableName="t",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
        with pytest.raises(ClientError, match=refused) as caught:
            await db.put_item(
                TableName="t", Item={"id": _s("k")}, ConditionExpression=expression,
                ExpressionAttributeValues={":v": _n(1)},
            )  # fmt: skip
        assert caught.value.response["Error"]["Code"] == "ValidationException"
