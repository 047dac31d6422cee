"""Shutdown over the in-memory SQS: what was received but not started goes back at once, before the
message still being handled finishes; a long poll under way is let finish past the deadline.

Every stop here is ``Worker.stop`` itself (``Rig.stop``). The handlers wait for a gate the test opens; every assertion is on the order of events in the
journal (``until`` only bounds how long a broken build makes the test wait)."""

from __future__ import annotations

import asyncio

from bus.worker.capacity import Capacity
from tests.worker.rig import JOURNAL, MemorySQS, consumer, events, index, open_gate, until


async def test_a_message_waiting_for_a_process_slot_is_released_at_once(sqs: MemorySQS) -> None:
    rig = await consumer(sqs, process=Capacity(1))
    running = rig.put("k0", "gate")
    waiting = [rig.put("k1"), rig.put("k2")]
    rig.consumer.start()
    assert await until(lambda: ("start", "k0", 1) in JOURNAL and rig.stats.received == 3)
    stopping = asyncio.ensure_future(rig.stop())
    released = await until(lambda: all(("visibility", m, 0) in JOURNAL for m in waiting), 2)
    open_gate("k0")
    await stopping
    assert released, JOURNAL
    assert max(index(("visibility", m, 0)) for m in waiting) < index(("end", "k0"))
    assert [e[1] for e in events("start")] == ["k0"]
    assert ("delete", running) in JOURNAL
    assert sqs.ids(rig.url) == waiting  # (the poll under way may get one back and release it)
    assert rig.stats.in_flight == 0


async def test_a_fifo_lane_gives_back_what_it_holds_at_once_in_order(sqs: MemorySQS) -> None:
    rig = await consumer(sqs, fifo=True)
    head = rig.put("a0", "gate", group="a")
    behind = [rig.put("a1", group="a"), rig.put("a2", group="a")]
    rig.consumer.start()
    assert await until(lambda: ("start", "a0", 1) in JOURNAL and rig.stats.received == 3)
    stopping = asyncio.ensure_future(rig.stop())
    released = await until(lambda: all(("visibility", m, 0) in JOURNAL for m in behind), 2)
    open_gate("a0")
    await stopping
    assert released, JOURNAL
    given_back = [e[1] for e in events("visibility")]
    assert given_back[:2] == behind  # in order, in one call, while a0 was still running
    assert index(("visibility", behind[-1], 0)) < index(("end", "a0"))
    assert [e[1] for e in events("start")] == ["a0"]
    assert ("delete", head) in JOURNAL
    assert sqs.ids(rig.url) == behind
    assert rig.stats.in_flight == 0


async def test_a_long_poll_under_way_is_let_finish_past_the_grace_deadline(sqs: MemorySQS) -> None:
    rig = await consumer(sqs, wait_seconds=1)
    rig.consumer.start()
    assert await until(lambda: ("receive", rig.url) in JOURNAL)
    late: list[str] = []
    asyncio.get_running_loop().call_later(0.3, lambda: late.append(rig.put("late")))
    await rig.stop(grace=0.05)  # the poll would end after the deadline
    assert not [c for c in sqs.calls if isinstance(c.error, asyncio.CancelledError)]
    assert late
    assert ("received", rig.url, late) in JOURNAL  # SQS handed it out...
    assert ("visibility", late[0], 0) in JOURNAL  # ...and the worker gave it back at once
    assert events("start") == []
    assert rig.stats.in_flight == 0
