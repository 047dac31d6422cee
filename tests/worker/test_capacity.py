"""Capacity: pollers reserve slots before receiving, and never more than are free."""

from __future__ import annotations

import asyncio

import pytest

from bus.worker.capacity import Capacity, reserve
from bus.worker.poller import MAX_PAUSE, outage_pause


async def test_takes_what_is_free_up_to_the_ask() -> None:
    cap = Capacity(15)
    assert await cap.acquire(10) == 10
    assert await cap.acquire(10) == 5
    assert cap.in_use == 15
    cap.release(3)
    assert await cap.acquire(10) == 3


async def test_waits_for_a_release_when_full() -> None:
    cap = Capacity(1)
    await cap.acquire(1)
    waiter = asyncio.create_task(cap.acquire(5))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    cap.release()
    assert await asyncio.wait_for(waiter, 1) == 1


async def test_a_receive_asks_no_more_than_the_process_has_free() -> None:
    queue, process = Capacity(10), Capacity(4)
    await process.acquire(1)
    assert await reserve(queue, process, 10) == 3
    assert (queue.in_use, process.in_use) == (3, 1)  # process slots are taken per handler


async def test_a_receive_waits_while_the_process_is_full() -> None:
    queue, process = Capacity(10), Capacity(1)
    await process.acquire(1)
    waiting = asyncio.create_task(reserve(queue, process, 10))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    process.release(1)
    assert await asyncio.wait_for(waiting, 1) == 1
    assert queue.in_use == 1


def test_capacity_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        Capacity(0)


def test_outage_pauses_grow_and_stop_at_thirty_seconds() -> None:
    pauses = [outage_pause(n, 1.0) for n in range(1, 12)]
    assert pauses == sorted(pauses)
    assert pauses[0] == 0.5
    assert pauses[-1] == MAX_PAUSE
