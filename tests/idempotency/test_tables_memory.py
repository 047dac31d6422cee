"""The in-memory AWS keeps idempotency tables as ``bus apply`` manages them: the same converge,
drift and prune as against DynamoDB (``test_tables_aws``), in memory."""

from __future__ import annotations

from typing import Any

from bus.memory import MemoryAws
from bus.topology.apply import converge, make_plan
from tests.idempotency.test_tables_aws import topology


async def test_converge_then_nothing_to_do_then_prune() -> None:
    async with MemoryAws() as memory:
        created = await converge(memory, topology(), "test")
        assert sorted(str(c) for c in created.changes if c.resource.kind == "table") == [
            "+ create table test-handled",
            "+ create table test-shipped",
        ]
        assert (await make_plan(memory, topology(), "test")).is_empty
        ttl = await memory.dynamodb.describe_time_to_live(TableName="test-shipped")
        assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"

        def drop_shipping(data: dict[str, Any]) -> None:
            del data["handlers"]["shipping"]

        pruned = await converge(memory, topology(drop_shipping), "test", prune=True)
        assert [str(c) for c in pruned.changes] == ["- delete table test-shipped"]
        assert sorted(memory.memory_dynamodb.tables) == ["test-handled"]
