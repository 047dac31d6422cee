"""A selective redrive killed with SIGKILL midway loses nothing.

The worker rejects 500 orders into the DLQ. ``bus dlq redrive`` runs in a real subprocess, slowed
to 100 messages per second, and is killed with SIGKILL once about a fifth of them are back on the
source queue. Afterwards every event id is in the source queue or in the DLQ; an event id in both
places can only come from the batch in flight when the process died (at most 10 messages).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bus.settings import Settings
from tests.dlq import apps
from tests.dlq.world import ROOT, World, open_world, wait_for

pytestmark = pytest.mark.aws

COUNT = 500
BATCH = 10
TOPOLOGY = """
name: dlqkill
queues:
  bulk:
    visibility_timeout: 5
    dead_letter: {max_receive_count: 2}
events:
  OrderPlaced:
    model: tests.dlq.apps:Order
    publish_to: [{queue: bulk}]
handlers:
  bulk:
    concurrency: 50
    events: {OrderPlaced: tests.dlq.apps:handle_order}
"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(
    bus_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    async with open_world(bus_settings, TOPOLOGY, tmp_path_factory.mktemp("dlq-kill")) as w:
        orders = [
            apps.Order(key=f"bulk-{i}", total_cents=i, behaviour="reject") for i in range(COUNT)
        ]
        await w.publisher().publish_many(orders, check=True)

        async def dead() -> bool:
            return await w.total("bulk-dlq") == COUNT and await w.total("bulk") == 0

        async with w.worker("bulk"):
            await wait_for(dead, within=60)
        yield w


@pytest.mark.timeout(90)
async def test_sigkill_midway_loses_nothing(world: World) -> None:
    ids = await world.event_ids("bulk-dlq")
    assert len(ids) == COUNT
    assert set(ids.values()) == {1}
    command = [
        sys.executable,
        str(ROOT / "cli.py"),
        "dlq",
        "redrive",
        "bulk-dlq",
        "--topology",
        str(world.path),
        "--env",
        world.env,
        "--reason",
        "rejected",
        "--rate",
        "100",
        "--visibility-timeout",
        "3",
        "--yes",
    ]
    proc = await start(command)
    try:
        await wait_for(lambda: _at_least(world, "bulk", COUNT // 5), within=30, every=0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=10)
    assert proc.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
    moved = await world.total("bulk")
    assert COUNT // 5 <= moved < COUNT  # killed midway
    # What the dead process held comes back after its visibility timeout (3 s).
    await wait_for(lambda: _settled(world, "bulk-dlq"), within=15)
    source = await world.event_ids("bulk")
    dlq = await world.event_ids("bulk-dlq")
    assert set(source) | set(dlq) == set(ids)  # nothing lost
    twice = set(source) & set(dlq)
    assert len(twice) <= BATCH, f"{len(twice)} messages in both queues"
    assert max(source.values()) == 1
    assert max(dlq.values()) == 1


async def start(command: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _settled(world: World, queue: str) -> bool:
    return (await world.depth(queue))[1] == 0


async def _at_least(world: World, queue: str, count: int) -> bool:
    return await world.total(queue) >= count


@pytest.mark.timeout(60)
async def test_ctrl_c_cancels_the_move_task(world: World) -> None:
    """After the kill: the whole DLQ back with SQS's move task, slowed down and interrupted."""
    before = set(await world.event_ids("bulk")) | set(await world.event_ids("bulk-dlq"))
    assert len(before) == COUNT
    in_dlq = await world.total("bulk-dlq")
    command = [sys.executable, str(ROOT / "cli.py"), "dlq", "redrive", "bulk-dlq",
               "-t", str(world.path), "-e", world.env, "--rate", "20", "--yes"]  # fmt: skip
    proc = await start(command)
    try:
        await wait_for(lambda: _less_than(world, "bulk-dlq", in_dlq - 10), within=20)
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=20)
    assert proc.returncode == 130, stderr.decode()[-2000:]
    assert "Move task cancelled after about" in stderr.decode()
    await asyncio.sleep(0.5)
    left = await world.total("bulk-dlq")
    assert 0 < left < in_dlq - 10  # it moved some, then stopped
    await asyncio.sleep(0.5)
    assert await world.total("bulk-dlq") == left
    after = set(await world.event_ids("bulk")) | set(await world.event_ids("bulk-dlq"))
    assert after == before


async def _less_than(world: World, queue: str, count: int) -> bool:
    return await world.total(queue) < count
