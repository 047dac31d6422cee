"""The DynamoDB store's atomic claim contract, against DynamoDB (the emulator's ministack) and the
in-memory AWS's DynamoDB (``db``: each test runs on both)."""

from __future__ import annotations

import asyncio

import pytest

from bus.aws import AwsClients
from bus.errors import AwsError
from bus.middleware.idempotency import IdempotencyStore
from bus.middleware.idempotency_dynamodb import DynamoDBStore
from bus.worker.loader import store_ready


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_claim_complete_then_every_copy_is_completed(db: AwsClients, table: str) -> None:
    store = DynamoDBStore(db, table)
    assert isinstance(store, IdempotencyStore)
    assert (await store.claim("q:e1", 60)).status == "claimed"
    assert (await store.claim("q:e1", 60)).status == "in-progress"
    await store.complete("q:e1", "receipt-7")
    again = await store.claim("q:e1", 60)
    assert (again.status, again.result) == ("completed", "receipt-7")
    assert (await store.claim("q:e2", 60)).status == "claimed"  # keys are independent


async def test_concurrent_claims_one_wins(db: AwsClients, table: str) -> None:
    stores = [DynamoDBStore(db, table) for _ in range(8)]
    answers = await asyncio.gather(*(s.claim("q:race", 60) for s in stores))
    assert sorted(a.status for a in answers) == ["claimed"] + ["in-progress"] * 7


async def test_release_lets_the_next_copy_claim(db: AwsClients, table: str) -> None:
    store = DynamoDBStore(db, table)
    assert (await store.claim("q:e1", 60)).status == "claimed"
    await store.release("q:e1")
    assert (await store.claim("q:e1", 60)).status == "claimed"


async def test_release_never_forgets_a_completed_key(db: AwsClients, table: str) -> None:
    store = DynamoDBStore(db, table)
    await store.claim("q:e1", 60)
    await store.complete("q:e1")
    await store.release("q:e1")  # a late release, e.g. of a copy whose claim had expired
    assert (await store.claim("q:e1", 60)).status == "completed"


async def test_an_expired_claim_is_retaken(db: AwsClients, table: str) -> None:
    clock = Clock()
    dead, alive = (
        DynamoDBStore(db, table, clock=clock),
        DynamoDBStore(db, table, clock=clock),
    )
    assert (await dead.claim("q:e1", 30)).status == "claimed"  # then the worker dies
    clock.now += 29
    assert (await alive.claim("q:e1", 30)).status == "in-progress"
    clock.now += 2
    assert (await alive.claim("q:e1", 30)).status == "claimed"
    await alive.complete("q:e1")
    clock.now += 3600  # long after: the completed key still holds
    assert (await alive.claim("q:e1", 30)).status == "completed"


async def test_a_late_release_leaves_a_retaken_claim_alone(db: AwsClients, table: str) -> None:
    """A worker whose claim expired (it was slow, not dead) fails and releases: the claim another
    worker took over meanwhile still holds."""
    clock = Clock()
    slow, other = (DynamoDBStore(db, table, clock=clock) for _ in range(2))
    assert (await slow.claim("q:e1", 30)).status == "claimed"
    clock.now += 31
    assert (await other.claim("q:e1", 30)).status == "claimed"
    await slow.release("q:e1")
    assert (await slow.claim("q:e1", 30)).status == "in-progress"
    await other.release("q:e1")
    assert (await slow.claim("q:e1", 30)).status == "claimed"


async def test_a_completed_key_past_its_ttl_is_claimed_again(db: AwsClients, table: str) -> None:
    """DynamoDB deletes expired items lazily (typically within two days): bus does not wait."""
    clock = Clock()
    store = DynamoDBStore(db, table, ttl=3600, clock=clock)
    await store.claim("q:e1", 30)
    await store.complete("q:e1")
    clock.now += 3599
    assert (await store.claim("q:e1", 30)).status == "completed"
    clock.now += 3
    assert (await store.claim("q:e1", 30)).status == "claimed"


async def test_the_item_has_the_ttl_attribute(db: AwsClients, table: str) -> None:
    clock = Clock()
    store = DynamoDBStore(db, table, ttl=86_400, clock=clock)
    await store.claim("q:e1", 30)
    await store.complete("q:e1", "r")
    got = await db.dynamodb.get_item(TableName=table, Key={"id": {"S": "q:e1"}})
    item = got["Item"]
    assert item["status"] == {"S": "completed"}
    assert int(item["expires_at"]["N"]) == int(clock.now) + 86_400 + 1
    assert "in_progress_until" not in item
    assert "owner" not in item


async def test_ready_says_when_the_table_is_missing(db: AwsClients, table: str) -> None:
    await store_ready(DynamoDBStore(db, table))  # it exists
    with pytest.raises(AwsError, match=r"idempotency table nope-[\w-]+ does not exist: apply"):
        await store_ready(DynamoDBStore(db, f"nope-{table}"))
