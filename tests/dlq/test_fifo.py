"""A FIFO DLQ, filled by the worker rejecting ledger entries, redriven selectively in group order.

Each account's 15 entries die in order; a selective redrive of two accounts puts them back on the
FIFO source queue in the same order (more than one receive batch per group), leaves the third
account's entries in the DLQ, and the fixed handler then sees every account's entries in order.
The copies use a deduplication id derived from the DLQ message id: reusing the original one would
make SQS drop them as duplicates of the first delivery, still inside its 5-minute window.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bus import dlq
from bus.settings import Settings
from tests.dlq import apps
from tests.dlq.world import World, open_world, wait_for

pytestmark = pytest.mark.aws

TOPOLOGY = """
name: dlqfifo
queues:
  ledger.fifo:
    fifo: true
    visibility_timeout: 5
    dead_letter: {max_receive_count: 10}
events:
  Entry:
    model: tests.dlq.apps:Entry
    publish_to: [{queue: ledger.fifo}]
    message_group_id: account
handlers:
  ledger.fifo:
    concurrency: 10  # the default: several entries of a group in flight, order must hold
    events: {Entry: tests.dlq.apps:handle_entry}
"""
ACCOUNTS = ("acc-1", "acc-2", "acc-3")
PER_ACCOUNT = 15


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(
    bus_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    aws, w = await open_world(bus_settings, TOPOLOGY, tmp_path_factory.mktemp("dlq-fifo"))
    try:
        entries = [
            apps.Entry(account=a, n=n, key=f"{a}/{n}") for n in range(PER_ACCOUNT) for a in ACCOUNTS
        ]
        await w.publisher().publish_many(entries, check=True)

        async def dead() -> bool:
            return await w.total("ledger-dlq.fifo") == len(entries)

        async with w.worker("ledger.fifo"):
            await wait_for(dead, within=60)
        yield w
    finally:
        await aws.__aexit__(None, None, None)


async def test_fifo_peek_shows_the_head_of_each_group_in_order(world: World) -> None:
    letters = await dlq.peek(world.aws, world.name("ledger-dlq.fifo"), limit=None)
    by_group: dict[str, list[int]] = {}
    for letter in letters:
        assert letter.failure.reason == "rejected"
        by_group.setdefault(str(letter.group_id), []).append(int(letter.data["n"]))
    assert set(by_group) == set(ACCOUNTS)
    for numbers in by_group.values():
        assert numbers == list(range(len(numbers))), by_group  # in order, from the first
    assert await world.depth("ledger-dlq.fifo") == (PER_ACCOUNT * len(ACCOUNTS), 0)


async def test_fifo_redrive_keeps_group_order(world: World) -> None:
    selection = dlq.Selection.build('data.account in ["acc-1", "acc-2"]')
    report = await dlq.redrive_selected(
        world.aws,
        "ledger-dlq.fifo",
        topology=world.topology,
        env=world.env,
        options=dlq.RedriveOptions(selection=selection),
    )
    assert (report.moved, report.failed, report.held_back) == (2 * PER_ACCOUNT, {}, 0)
    assert dict(report.destinations) == {world.name("ledger.fifo"): 2 * PER_ACCOUNT}
    assert await world.total("ledger.fifo") == 2 * PER_ACCOUNT
    assert await world.total("ledger-dlq.fifo") == PER_ACCOUNT
    apps.FIXED["ledger"] = True
    try:
        async with world.worker("ledger.fifo"):
            await wait_for(lambda: len(apps.handled("ledger.fifo")) == 2 * PER_ACCOUNT)
    finally:
        apps.FIXED["ledger"] = False
    for account in ("acc-1", "acc-2"):
        seen = [h.data["n"] for h in apps.handled("ledger.fifo") if h.data["account"] == account]
        assert seen == list(range(PER_ACCOUNT))
    left = await dlq.peek(world.aws, world.name("ledger-dlq.fifo"), limit=None)
    assert {d.group_id for d in left} == {"acc-3"}
