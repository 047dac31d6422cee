"""Capacity: pollers reserve slots before receiving, and never more than are free; a process slot
is held only while a message is tried, not while a FIFO message waits out its backoff."""

from __future__ import annotations

import asyncio

import pytest

from bus.worker.capacity import Capacity, Slot, reserve
from bus.worker.poller import MAX_PAUSE, outage_pause
from tests.worker.rig import JOURNAL, MemorySQS, consumer, until


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


async def test_a_slot_is_given_back_once_and_taken_again_only_until_a_stop() -> None:
    cap, stop = Capacity(1), asyncio.Event()
    slot = Slot(cap, stop)
    assert await slot.take()
    assert cap.free == 0
    slot.give_back()
    slot.give_back()  # given back once: the capacity never counts it twice
    assert (slot.held, cap.free) == (False, 1)
    await cap.acquire(1)  # another takes it meanwhile
    waiting = asyncio.create_task(slot.take())
    await asyncio.sleep(0.01)
    stop.set()
    assert await asyncio.wait_for(waiting, 1) is False
    assert (slot.held, cap.free) == (False, 0)


# -- the process-wide limit over the in-memory SQS ----------------------------------------------


class Guarded(Capacity):
    """A ``Capacity`` noting every release of a slot that was not taken (``release`` caps the
    count at the limit, which would hide it)."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.over: list[int] = []

    def release(self, count: int = 1) -> None:
        if self.free + count > self.limit:
            self.over.append(count)
        super().release(count)


def most_at_once() -> int:
    """The most handlers that ran at once, from the journal's starts and ends."""
    running = most = 0
    for entry in JOURNAL:
        if entry[0] == "start":
            running += 1
            most = max(most, running)
        elif entry[0] == "end":
            running -= 1
    return most


def backoff(seconds: int) -> dict[str, object]:
    return {"attempts": 1, "redelivery": {"initial": seconds, "maximum": seconds, "jitter": False}}


async def test_a_fifo_message_waiting_out_its_backoff_leaves_its_process_slot(
    sqs: MemorySQS,
) -> None:
    process = Guarded(1)
    fifo = await consumer(sqs, fifo=True, retry=backoff(600), max_receive_count=2, process=process)
    std = await consumer(sqs, process=process)
    fifo.put("a1", "fail", group="A")
    fifo.consumer.start()
    assert await until(lambda: fifo.stats.redelivered == 1)  # a1 waits 600 s, its group held
    std.put("s1")
    std.consumer.start()
    await asyncio.sleep(5)  # virtual seconds
    assert ("end", "s1") in JOURNAL
    assert ("start", "a1", 2) not in JOURNAL
    await asyncio.sleep(600)
    assert ("start", "a1", 2) in JOURNAL  # a slot taken again for its next try
    await fifo.stop()
    await std.stop()
    assert (fifo.stats.dead_lettered, std.stats.processed) == (1, 1)
    assert (process.free, process.over) == (1, [])


async def test_tries_stay_within_the_process_limit_and_every_slot_comes_back(
    sqs: MemorySQS,
) -> None:
    process = Guarded(2)
    fifo = await consumer(sqs, fifo=True, retry=backoff(5), max_receive_count=5, process=process)
    std = await consumer(sqs, process=process)
    for group in "ABC":
        fifo.put(f"{group}1", "fail-until:3", group=group)  # two backoffs, then handled
        fifo.put(f"{group}2", "slow:2", group=group)
    for n in range(4):
        std.put(f"s{n}", "slow:3")
    fifo.consumer.start()
    std.consumer.start()
    assert await until(lambda: (fifo.stats.processed, std.stats.processed) == (6, 4))
    # then a stop: d1 waiting for a slot after its backoff, both slots held by gated handlers
    fifo.put("d1", "fail", group="D")
    assert await until(lambda: fifo.stats.redelivered == 7)
    std.put("g0", "gate")
    std.put("g1", "gate")
    assert await until(lambda: ("start", "g1", 1) in JOURNAL and ("start", "g0", 1) in JOURNAL)
    await asyncio.sleep(10)  # d1's backoff is over: it waits for a slot
    assert ("start", "d1", 2) not in JOURNAL
    await fifo.stop()  # d1 goes back without another try
    await std.stop(grace=1)  # g0 and g1 are cancelled past the deadline, and released
    assert most_at_once() == 2
    assert (process.free, process.over) == (2, [])
    for rig in (fifo, std):
        assert rig.consumer.capacity.free == rig.consumer.capacity.limit
        assert rig.stats.in_flight == 0
    assert [e[1:] for e in JOURNAL if e[0] == "start" and e[1] == "d1"] == [("d1", 1)]
    assert len(sqs.ids(fifo.url)) == 1  # d1, visible again
    assert (fifo.stats.released, std.stats.released) == (1, 2)
