"""The embedded emulator serves S3 (LocalStack) and DynamoDB (ministack beside it), reached through
the environment the emulator gives: ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_DYNAMODB``, which
botocore honours; no endpoint is passed to the clients here."""

from __future__ import annotations

import uuid

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import ClientError

from bus import emulator

pytestmark = pytest.mark.aws


@pytest.fixture
def started(bus_emulator: emulator.EmulatorInstance | None) -> emulator.EmulatorInstance:
    """The session's emulator (its env() is in os.environ for the session)."""
    if bus_emulator is None:
        pytest.skip("the session uses BUS_TEST_ENDPOINT_URL, not an emulator it started")
    return bus_emulator


async def test_dynamodb_conditional_put_refuses_a_duplicate(
    started: emulator.EmulatorInstance,
) -> None:
    [ministack] = [p for p in started.processes() if "dynamodb" in p.services]
    assert started.env()["AWS_ENDPOINT_URL_DYNAMODB"] == ministack.endpoint
    table = f"claims-{uuid.uuid4().hex[:8]}"
    async with AioSession().create_client("dynamodb") as dynamodb:
        assert dynamodb.meta.endpoint_url == ministack.endpoint
        await dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        claim = {
            "TableName": table,
            "Item": {"key": {"S": "event-1"}, "status": {"S": "in_progress"}},
            "ConditionExpression": "attribute_not_exists(#k)",
            "ExpressionAttributeNames": {"#k": "key"},
        }
        await dynamodb.put_item(**claim)
        with pytest.raises(ClientError) as refused:
            await dynamodb.put_item(**claim)
        assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
        item = await dynamodb.get_item(TableName=table, Key={"key": {"S": "event-1"}})
        assert item["Item"]["status"] == {"S": "in_progress"}


async def test_s3_put_and_get_an_object(started: emulator.EmulatorInstance) -> None:
    assert "s3" in started.services  # LocalStack's own
    bucket = f"bus-{uuid.uuid4().hex[:8]}"
    body = uuid.uuid4().bytes * 20_000  # 320 KB
    config = AioConfig(s3={"addressing_style": "path"})
    async with AioSession().create_client("s3", config=config) as s3:
        assert s3.meta.endpoint_url == started.endpoint
        await s3.create_bucket(Bucket=bucket)
        await s3.put_object(Bucket=bucket, Key="a/b.bin", Body=body)
        got = await s3.get_object(Bucket=bucket, Key="a/b.bin")
        async with got["Body"] as stream:
            assert await stream.read() == body
