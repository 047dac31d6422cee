"""Consume middlewares over the in-memory SQS: their order, what they see, and what their errors do to
the message (never deleted unhandled); the idempotency claim with concurrent duplicates; the
handler timeout."""

from __future__ import annotations

from typing import Any

from bus.middleware import CallNext, Incoming, MemoryStore
from tests.worker.rig import JOURNAL, MemorySQS, consumer, events, open_gate, until

LATER = {"attempts": 1, "redelivery": {"initial": 5, "maximum": 5, "jitter": False}}


class Recorder:
    """Journals ``(name, "before")`` and ``(name, "after", kind, reason)`` around the rest."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[Incoming] = []

    async def __call__(self, delivery: Incoming, call_next: CallNext) -> None:
        self.seen.append(delivery)
        JOURNAL.append((self.name, "before"))
        await call_next(delivery)
        outcome = delivery.outcome
        assert outcome is not None
        JOURNAL.append((self.name, "after", outcome.kind, outcome.reason))


def _around() -> list[tuple[Any, ...]]:
    return [e for e in JOURNAL if e[0] in ("outer", "inner", "start", "end")]


async def test_middlewares_wrap_the_handler_in_order_and_see_its_outcome(sqs: MemorySQS) -> None:
    outer, inner = Recorder("outer"), Recorder("inner")
    rig = await consumer(sqs, middleware=[outer, inner])
    m = rig.put("k")
    rig.consumer.start()
    assert await until(lambda: ("delete", m) in JOURNAL)
    await rig.stop()
    assert _around() == [
        ("outer", "before"),
        ("inner", "before"),
        ("start", "k", 1),
        ("end", "k"),
        ("inner", "after", "handled", None),
        ("outer", "after", "handled", None),
    ]
    (seen,) = outer.seen
    assert seen.envelope is not None
    assert seen.event is not None
    assert seen.context is not None
    assert seen.message.message_id == m
    assert seen.queue == "q"
    assert seen.attempt == 1


async def test_in_process_retries_happen_inside_the_middlewares(sqs: MemorySQS) -> None:
    outer = Recorder("outer")
    retry = {"attempts": 2, "in_process": {"initial": 0, "maximum": 0}}
    rig = await consumer(sqs, middleware=[outer], retry=retry)
    m = rig.put("k", "flaky")
    rig.consumer.start()
    assert await until(lambda: ("delete", m) in JOURNAL)
    await rig.stop()
    assert [e for e in JOURNAL if e[0] == "start"] == [("start", "k", 1), ("start", "k", 1)]
    assert [e for e in JOURNAL if e[0] == "outer"] == [
        ("outer", "before"),
        ("outer", "after", "handled", None),
    ]
    assert rig.stats.retried == 1


async def test_a_middleware_sees_an_undecodable_message_and_its_dead_letter(sqs: MemorySQS) -> None:
    outer = Recorder("outer")
    rig = await consumer(sqs, middleware=[outer])
    m = sqs.put(rig.url, "this is not json")
    rig.consumer.start()
    assert await until(lambda: ("delete", m) in JOURNAL)
    await rig.stop()
    assert ("outer", "after", "dead-letter", "decode-error") in JOURNAL
    assert outer.seen[0].envelope is None
    assert outer.seen[0].event is None
    assert len(events("send")) == 1  # in the DLQ before the delete


class Boom(RuntimeError):
    pass


async def _raise_before(delivery: Incoming, call_next: CallNext) -> None:
    raise Boom("before the handler")


async def _raise_after(delivery: Incoming, call_next: CallNext) -> None:
    await call_next(delivery)
    raise Boom("after the handler")


async def _no_outcome(delivery: Incoming, call_next: CallNext) -> None:
    return  # neither calls the handler nor sets an outcome


async def test_a_middleware_error_before_the_handler_redelivers_the_message_later(
    sqs: MemorySQS,
) -> None:
    rig = await consumer(sqs, middleware=[_raise_before], retry=LATER)
    m = rig.put("k")
    rig.consumer.start()
    assert await until(lambda: ("visibility", m, 5) in JOURNAL)
    await rig.stop()
    assert events("start") == []
    assert ("delete", m) not in JOURNAL
    assert sqs.ids(rig.url) == [m]
    assert rig.stats.redelivered == 1


async def test_a_middleware_error_after_the_handler_is_a_handler_error(sqs: MemorySQS) -> None:
    rig = await consumer(sqs, middleware=[_raise_after], retry=LATER, max_receive_count=1)
    m = rig.put("k")
    rig.consumer.start()
    assert await until(lambda: ("delete", m) in JOURNAL)
    await rig.stop()
    ((_, _, copy),) = events("send")  # on its last receive: to the DLQ first, then deleted
    failure = rig.failure_of(copy)
    assert failure is not None
    assert failure.reason == "handler-error"
    assert "after the handler" in failure.error


async def test_a_middleware_that_sets_no_outcome_leaves_the_message_for_later(
    sqs: MemorySQS,
) -> None:
    rig = await consumer(sqs, middleware=[_no_outcome], retry=LATER)
    m = rig.put("k")
    rig.consumer.start()
    assert await until(lambda: any(e[:2] == ("visibility", m) for e in JOURNAL))
    await rig.stop()
    assert events("start") == []
    assert sqs.ids(rig.url) == [m]


# -- idempotency ----------------------------------------------------------------------------------


async def test_two_copies_arriving_together_run_the_handler_once(sqs: MemorySQS) -> None:
    rig = await consumer(sqs, idempotent=True, retry=LATER)
    body = rig.body("k", "gate")
    attributes = {"event_type": {"DataType": "String", "StringValue": "Ping"}}
    first = sqs.put(rig.url, body, attributes)
    second = sqs.put(rig.url, body, attributes)  # the same event, published twice
    rig.consumer.start()
    assert await until(lambda: rig.stats.received == 2 and len(events("visibility")) == 1)
    assert events("start") == [("start", "k", 1)]
    ((_, copy, delay),) = events("visibility")  # the other copy: not deleted, back later
    assert copy in (first, second)
    assert delay >= 1
    open_gate("k")
    runner = second if copy == first else first
    assert await until(lambda: ("delete", runner) in JOURNAL)
    sqs.expire(rig.url, copy)  # back now: completed meanwhile, so skipped and deleted
    assert await until(lambda: ("delete", copy) in JOURNAL)
    await rig.stop()
    assert events("start") == [("start", "k", 1)]
    assert rig.stats.duplicates == 1
    assert rig.stats.processed == 1


async def test_a_copy_found_in_progress_is_handled_when_the_first_one_fails(sqs: MemorySQS) -> None:
    rig = await consumer(sqs, idempotent=True, retry=LATER)
    body = rig.body("k", "gate+fail-until:2")  # fails on the first delivery only
    attributes = {"event_type": {"DataType": "String", "StringValue": "Ping"}}
    first = sqs.put(rig.url, body, attributes)
    second = sqs.put(rig.url, body, attributes)
    rig.consumer.start()
    assert await until(lambda: len(events("visibility")) == 1)  # the copy: in progress
    assert events("start") == [("start", "k", 1)]
    open_gate("k")
    assert await until(lambda: len(events("visibility")) == 2)  # the first one failed
    sqs.expire(rig.url, first)
    sqs.expire(rig.url, second)
    assert await until(lambda: ("delete", first) in JOURNAL and ("delete", second) in JOURNAL)
    await rig.stop()
    starts = events("start")
    assert starts == [("start", "k", 1), ("start", "k", 2)]  # handled once it could be
    assert rig.stats.processed == 1
    assert rig.stats.duplicates == 1


async def test_the_memory_store_claims_atomically_and_expires_claims() -> None:
    store = MemoryStore()
    assert (await store.claim("q:1", 60)).status == "claimed"
    assert (await store.claim("q:1", 60)).status == "in-progress"
    await store.release("q:1")
    assert (await store.claim("q:1", 60)).status == "claimed"
    await store.complete("q:1", "done")
    again = await store.claim("q:1", 60)
    assert (again.status, again.result) == ("completed", "done")
    await store.release("q:1")  # a completed key is never released
    assert (await store.claim("q:1", 60)).status == "completed"
    assert (await store.claim("q:2", 0)).status == "claimed"
    assert (await store.claim("q:2", 60)).status == "claimed"  # the first claim had expired


# -- timeout --------------------------------------------------------------------------------------


async def test_a_handler_past_its_timeout_is_cancelled_and_retried_later(sqs: MemorySQS) -> None:
    outer = Recorder("outer")
    rig = await consumer(sqs, middleware=[outer], timeout=0.1, retry=LATER)
    m = rig.put("k", "slow:30")
    rig.consumer.start()
    assert await until(lambda: ("visibility", m, 5) in JOURNAL)
    await rig.stop()
    assert events("end") == [("end", "k")]  # cancelled, long before its 30 s
    assert ("outer", "after", "redeliver", "timeout") in JOURNAL
    assert sqs.ids(rig.url) == [m]


async def test_a_handler_timing_out_on_its_last_receive_is_dead_lettered_as_timeout(
    sqs: MemorySQS,
) -> None:
    rig = await consumer(sqs, timeout=0.1, retry=LATER, max_receive_count=1)
    m = rig.put("k", "slow:30")
    rig.consumer.start()
    assert await until(lambda: ("delete", m) in JOURNAL)
    await rig.stop()
    ((_, _, copy),) = events("send")
    failure = rig.failure_of(copy)
    assert failure is not None
    assert failure.reason == "timeout"
