"""A ``CancelledError`` of the handler's own (it awaited a task or future that something else
cancelled) is a handler error: retried, redelivered after the policy's backoff, dead-lettered with
its ``bus.failure`` record. Only the worker's own cancellation (a stop) releases the message at
once. Over the in-memory SQS."""

from __future__ import annotations

import asyncio

from bus.worker.context import Context
from tests.worker.apps import GroupPing, Ping
from tests.worker.rig import JOURNAL, MemorySQS, consumer, events, until

LATER = {"attempts": 1, "redelivery": {"initial": 60, "maximum": 60, "jitter": False}}
NOW = {"attempts": 1, "redelivery": {"initial": 0, "maximum": 0}}


async def _cancelled_inside(event: Ping | GroupPing, ctx: Context) -> None:
    """Awaits a task another callback cancels (a closed session's pending call, say), on its
    first try of each receive up to ``event.behaviour``'s attempt ("until:N"; "always": every)."""
    JOURNAL.append(("start", event.key, ctx.attempt))
    behaviour = event.behaviour
    if behaviour == "always" or (
        behaviour.startswith("until:") and ctx.attempt < int(behaviour.split(":")[1])
    ):
        inner = asyncio.ensure_future(asyncio.sleep(10))
        asyncio.get_running_loop().call_soon(inner.cancel)
        await inner
    JOURNAL.append(("end", event.key))


async def cancelled_ping(event: Ping, ctx: Context) -> None:
    await _cancelled_inside(event, ctx)


async def cancelled_group(event: GroupPing, ctx: Context) -> None:
    await _cancelled_inside(event, ctx)


HANDLER = "tests.worker.test_cancelled:cancelled_ping"


async def test_a_handler_s_own_cancelled_error_is_redelivered_after_the_backoff(
    sqs: MemorySQS,
) -> None:
    rig = await consumer(sqs, handler=HANDLER, retry=LATER, max_receive_count=5)
    m = rig.put("k", "always")
    rig.consumer.start()
    assert await until(lambda: rig.stats.redelivered == 1)
    await rig.stop()
    assert events("visibility") == [("visibility", m, 60)]  # the policy's delay: not 0
    assert rig.stats.released == 0
    assert events("start") == [("start", "k", 1)]


async def test_on_its_last_receive_it_is_dead_lettered_with_its_failure(sqs: MemorySQS) -> None:
    rig = await consumer(sqs, handler=HANDLER, retry=LATER, max_receive_count=1)
    m = rig.put("k", "always")
    rig.consumer.start()
    assert await until(lambda: ("delete", m) in JOURNAL)
    await rig.stop()
    ((_, _, copy),) = events("send")
    failure = rig.failure_of(copy)
    assert (failure.reason, failure.error_type) == (
        "handler-error",
        "asyncio.exceptions.CancelledError",
    )
    assert rig.stats.released == 0


async def test_on_a_fifo_queue_the_group_is_tried_again_not_released(sqs: MemorySQS) -> None:
    rig = await consumer(
        sqs,
        fifo=True,
        handler="tests.worker.test_cancelled:cancelled_group",
        retry=NOW,
        max_receive_count=5,
    )
    m = rig.put("k", "until:2")
    after = rig.put("k2")
    rig.consumer.start()
    assert await until(lambda: ("delete", after) in JOURNAL)
    await rig.stop()
    assert events("start") == [("start", "k", 1), ("start", "k", 2), ("start", "k2", 1)]
    assert ("delete", m) in JOURNAL
    assert rig.stats.released == 0
    assert sqs.ids(rig.url) == []


async def test_a_stop_still_releases_what_it_cancels(sqs: MemorySQS) -> None:
    rig = await consumer(sqs, retry=LATER)
    m = rig.put("k", "gate")
    rig.consumer.start()
    assert await until(lambda: ("start", "k", 1) in JOURNAL)
    await rig.stop(grace=0.1)
    assert events("visibility") == [("visibility", m, 0)]
    assert rig.stats.released == 1
