"""A fresh DynamoDB idempotency table per test, on the session's emulator (ministack) and on the
in-memory AWS: ``db`` is either (the emulator's variant is marked ``aws``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bus.aws import AwsClients
from bus.memory import MemoryAws
from bus.middleware.idempotency_dynamodb import KEY, TTL_ATTRIBUTE


@pytest_asyncio.fixture
async def memory_aws() -> AsyncIterator[MemoryAws]:
    async with MemoryAws() as memory:
        yield memory


@pytest.fixture(params=[pytest.param("aws", marks=pytest.mark.aws), "memory_aws"])
def db(request: pytest.FixtureRequest) -> AwsClients:
    clients: AwsClients = request.getfixturevalue(request.param)
    return clients


@pytest.fixture
async def table(db: AwsClients, bus_env: str) -> AsyncIterator[str]:
    aws = db
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
