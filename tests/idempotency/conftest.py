"""A fresh DynamoDB idempotency table per test, on the session's emulator (ministack)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bus.aws import AwsClients
from bus.middleware.idempotency_dynamodb import KEY, TTL_ATTRIBUTE


@pytest.fixture
async def table(aws: AwsClients, bus_env: str) -> AsyncIterator[str]:
    name = f"{bus_env}-idempotency"
    await aws.dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    await aws.dynamodb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    yield name
    await aws.dynamodb.delete_table(TableName=name)
