"""Every line about a delivery carries its fields, also those logged away from the dispatcher
(the acker, a failed release, an unexpected error) and those of any logger inside a handler."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from structlog.contextvars import get_contextvars, merge_contextvars
from structlog.testing import capture_logs

from tests.worker.rig import JOURNAL, MemorySQS, Rig, consumer, open_gate, until

LATER = {"attempts": 1, "redelivery": {"initial": 5, "maximum": 5, "jitter": False}}
FIELDS = ("message_id", "queue", "event_type", "attempt", "correlation_id")


def event_id(rig: Rig, message_id: str) -> str:
    return str(json.loads(rig.sqs.message(rig.url, message_id).body)["id"])


def assert_fields(entry: dict[str, Any], rig: Rig, message_id: str) -> None:
    assert all(entry.get(name) is not None for name in FIELDS), entry
    assert entry["message_id"] == message_id
    assert entry["queue"] == rig.consumer.info.name
    assert entry["event_type"] == ("GroupPing" if rig.consumer.info.fifo else "Ping")
    assert entry["attempt"] == 1


async def test_a_refused_delete_is_logged_with_the_delivery_fields(sqs: MemorySQS) -> None:
    with capture_logs() as logs:
        rig = await consumer(sqs)
        m = rig.put("k")
        sqs.faults.fail_entry("DeleteMessageBatch", "ReceiptHandleIsInvalid", message_id=m)
        correlation = event_id(rig, m)  # a new flow's correlation id is its first event's id
        rig.consumer.start()
        assert await until(lambda: ("delete-refused", m) in JOURNAL)
        await rig.stop()
    (refused,) = [e for e in logs if e["event"].startswith("delete refused")]
    assert_fields(refused, rig, m)
    assert refused["correlation_id"] == correlation


async def test_a_failed_release_is_logged_with_the_delivery_fields(sqs: MemorySQS) -> None:
    with capture_logs() as logs:
        rig = await consumer(sqs, fifo=True)
        rig.put("a0", "gate", group="a")
        behind = rig.put("a1", group="a")
        rig.consumer.start()
        assert await until(lambda: ("start", "a0", 1) in JOURNAL and rig.stats.received == 2)
        flow = event_id(rig, behind)
        sqs.faults.fail("ChangeMessageVisibilityBatch", RuntimeError("down"))
        stopping = asyncio.ensure_future(rig.stop())
        await asyncio.sleep(0.05)
        open_gate("a0")
        await stopping
    (failed,) = [e for e in logs if e["event"].startswith("could not release")]
    assert_fields(failed, rig, behind)
    assert failed["correlation_id"] == flow


class BrokenStore:
    async def claim(self, key: str, expires: float) -> None:
        raise RuntimeError("the store is broken")

    async def complete(self, key: str, result: str | None = None) -> None:
        raise AssertionError("not reached")

    async def release(self, key: str) -> None:
        raise AssertionError("not reached")


async def test_a_failing_middleware_is_a_handler_error_logged_with_the_delivery_fields(
    sqs: MemorySQS,
) -> None:
    with capture_logs() as logs:
        store: Any = BrokenStore()
        rig = await consumer(sqs, idempotent=True, store=store, retry=LATER)  # back in 5 s
        m = rig.put("k")
        rig.consumer.start()
        assert await until(lambda: any(e["event"].startswith("handler failed") for e in logs))
        await rig.stop()
    (failed, *_) = [e for e in logs if e["event"].startswith("handler failed")]
    assert_fields(failed, rig, m)
    assert failed["error"] == "the store is broken"
    assert failed["reason"] == "handler-error"
    assert ("delete", m) not in JOURNAL  # never deleted unhandled: it comes back later
    assert ("visibility", m, failed["delay"]) in JOURNAL
    assert [e for e in JOURNAL if e[0] == "start"] == []
    assert rig.stats.in_flight == 0
    assert rig.consumer.heartbeat.tracked == 0


async def test_any_logger_inside_a_handler_carries_the_delivery_fields(sqs: MemorySQS) -> None:
    with capture_logs(processors=[merge_contextvars]) as logs:
        rig = await consumer(sqs)
        m = rig.put("k", "log")
        flow = event_id(rig, m)
        rig.consumer.start()
        assert await until(lambda: ("logged", "k") in JOURNAL)
        await rig.stop()
    (inside,) = [e for e in logs if e["event"] == "inside the handler"]
    assert_fields(inside, rig, m)
    assert inside["event_id"] == inside["correlation_id"] == flow
    assert get_contextvars() == {}  # bound only while the handler ran
    outside = [e for e in logs if e["event"] == "consuming"]
    assert outside
    assert "message_id" not in outside[0]


async def test_what_a_handler_binds_does_not_reach_the_next_message_of_its_fifo_group(
    sqs: MemorySQS,
) -> None:
    rig = await consumer(sqs, fifo=True)
    rig.put("a0", "bind", group="a")
    rig.put("a1", group="a")  # handled after a0, in the same lane task
    rig.consumer.start()
    assert await until(lambda: ("end", "a1") in JOURNAL)
    await rig.stop()
    assert [e for e in JOURNAL if e[0] == "context"] == [
        ("context", "a0", None),
        ("context", "a1", None),
    ]


async def test_the_ackers_lines_do_not_carry_what_a_handler_bound(sqs: MemorySQS) -> None:
    with capture_logs(processors=[merge_contextvars]) as logs:
        rig = await consumer(sqs)
        first = rig.put("k0", "bind")
        second = rig.put("k1")
        sqs.faults.fail_entry("DeleteMessageBatch", "ReceiptHandleIsInvalid", message_id=second)
        rig.consumer.start()
        assert await until(
            lambda: ("delete-refused", second) in JOURNAL and ("delete", first) in JOURNAL
        )
        await rig.stop()
    (refused,) = [e for e in logs if e["event"].startswith("delete refused")]
    assert refused["message_id"] == second
    assert "leak" not in refused


async def test_log_context_binds_for_the_rest_and_restores_what_was_there() -> None:
    from structlog.contextvars import bind_contextvars, reset_contextvars

    from bus.middleware.consume import Incoming
    from bus.middleware.logcontext import LogContext

    seen: dict[str, Any] = {}

    async def rest(delivery: Incoming) -> None:
        seen.update(get_contextvars())

    fields = {"message_id": "m-1", "attempt": 2, "event_type": "Ping", "correlation_id": "c-1"}
    delivery = Incoming(None, "orders", 2, None, None, fields)  # type: ignore[arg-type]
    outer = bind_contextvars(queue="outer", message_id="m-0")
    try:
        await LogContext(fifo=False)(delivery, rest)
        assert seen == {**fields, "queue": "orders"}
        assert get_contextvars() == {"queue": "outer", "message_id": "m-0"}
    finally:
        reset_contextvars(**outer)
    assert get_contextvars() == {}
