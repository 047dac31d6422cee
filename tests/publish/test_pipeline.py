"""publish_many as a pipeline: batches leave while later events are prepared (scripted senders).

The guarantees of a batched publish still hold when the sending overlaps the preparing: one result
per event in order, refusals reported and not sent, FIFO batches in order, failed entries retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bus.errors import AwsError, EventValidationError
from bus.publish.prepare import Channel, Prepared
from bus.publish.publisher import WINDOW_PER_CALL
from bus.publish.senders import Outcome, Sender, entry_id
from schemas.orders import LedgerEntry, OrderPlaced, OrderShipped
from tests.publish.scripted import ScriptedPublisher, ok


def shipped(n: int) -> OrderShipped:
    return OrderShipped(order_id=f"o-{n}", carrier="dhl", tracking_number=f"t-{n}")


def journaled(count: int, journal: list[str]) -> Iterator[OrderShipped]:
    for n in range(count):
        journal.append(f"prepare {n}")
        yield shipped(n)


async def test_the_first_batch_leaves_before_the_last_event_is_prepared() -> None:
    journal: list[str] = []
    publisher = ScriptedPublisher(journal=journal)
    results = await publisher.publish_many(journaled(100, journal), check=True)
    assert [r.index for r in results] == list(range(100))
    first_send = journal.index("send 0")
    assert journal[:first_send] == [f"prepare {n}" for n in range(10)]
    assert journal.index("send 10") < journal.index("prepare 20")
    assert publisher.senders["topic:orders"].calls == [
        list(range(start, start + 10)) for start in range(0, 100, 10)
    ]


async def test_preparing_waits_when_the_network_falls_behind() -> None:
    publisher = ScriptedPublisher(max_in_flight=2, delay=0.02)
    window = WINDOW_PER_CALL * 2
    ahead: list[int] = []

    def events() -> Iterator[OrderShipped]:
        for n in range(200):
            sender = publisher.senders.get("topic:orders")
            answered = sender.answered if sender else 0
            ahead.append(n - answered * 10)  # prepared but not yet answered
            yield shipped(n)

    results = await publisher.publish_many(events(), check=True)
    assert len(results) == 200
    # At most `window` batches handed off and unanswered, plus the one being filled.
    assert max(ahead) <= (window + 1) * 10
    assert publisher.senders["topic:orders"].max_in_flight == 2


async def test_a_fifo_destination_gets_its_batches_one_after_another_in_order() -> None:
    publisher = ScriptedPublisher()
    entries = [LedgerEntry(account_id="acc", sequence=n, amount_cents=n) for n in range(35)]
    results = await publisher.publish_many(entries, check=True)
    sender = publisher.senders["topic:ledger.fifo"]
    assert sender.max_in_flight == 1
    assert [i for call in sender.calls for i in call] == list(range(35))
    assert [item.group_id for item in sender.sent] == ["acc"] * 35
    assert [item.id for item in sender.sent] == [r.event_id for r in results]


async def test_failed_entries_are_retried_once_the_first_attempts_are_answered() -> None:
    def throttle_every_third(attempt: int, item: Prepared) -> Outcome:
        if item.index % 3 == 0 and attempt == 1:
            return Outcome(entry_id(item), code="Throttling", retryable=True)
        return ok(attempt, item)

    publisher = ScriptedPublisher({"topic:orders": throttle_every_third})
    results = await publisher.publish_many([shipped(n) for n in range(25)], check=True)
    calls = publisher.senders["topic:orders"].calls
    assert sorted(i for call in calls[:3] for i in call) == list(range(25))
    assert calls[3:] == [list(range(0, 25, 3))]
    assert [r.deliveries[0].message_id for r in results[:4]] == ["m-0-2", "m-1-1", "m-2-1", "m-3-2"]


async def test_invalid_entries_among_many_are_reported_and_not_sent() -> None:
    publisher = ScriptedPublisher()
    events = [shipped(n) for n in range(57)]
    for n in range(0, 57, 7):
        events[n] = OrderShipped.model_construct(order_id=f"o-{n}", carrier="", tracking_number="t")
    results = await publisher.publish_many(events)
    assert [r.index for r in results] == list(range(57))
    refused = {r.index for r in results if r.error is not None}
    assert refused == set(range(0, 57, 7))
    assert all(isinstance(results[n].error, EventValidationError) for n in refused)
    assert all(r.ok for r in results if r.index not in refused)
    sent = [item.index for item in publisher.senders["topic:orders"].sent]
    assert sorted(sent) == sorted(set(range(57)) - refused)


class MissingBus(ScriptedPublisher):
    async def _resolve(self, channel: Channel) -> Sender:
        if channel.kind == "bus":
            self.resolved.append(channel.label)
            raise AwsError("no such bus", code="ResourceNotFoundException")
        return await super()._resolve(channel)


async def test_a_destination_that_cannot_be_found_fails_its_entries_and_is_looked_up_once() -> None:
    publisher = MissingBus()
    orders = [
        OrderPlaced(order_id=f"o-{n}", customer_id="c", total_cents=n, country="DE")
        for n in range(35)
    ]
    results = await publisher.publish_many(orders)
    assert publisher.resolved.count("bus:shop-events") == 1
    for r in results:
        topic, bus = r.deliveries
        assert topic.ok
        assert (bus.destination, bus.error_code) == ("bus:shop-events", "ResourceNotFoundException")


async def test_when_the_events_fail_to_come_what_was_handed_over_goes_out_then_the_error() -> None:
    publisher = ScriptedPublisher(delay=0.05)

    def events() -> Iterator[OrderShipped]:
        for n in range(25):
            yield shipped(n)
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError, match="the source broke") as info:
        await publisher.publish_many(events())
    assert "the 25 events handed over before this error were published" in str(info.value.__notes__)
    assert sorted(i.index for i in publisher.senders["topic:orders"].sent) == list(range(25))
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_a_cancelled_publish_stops_its_calls_in_flight() -> None:
    publisher = ScriptedPublisher(delay=10.0)
    task = asyncio.create_task(publisher.publish_many([shipped(n) for n in range(30)]))
    for _ in range(500):  # until the three calls are in flight
        await asyncio.sleep(0.01)
        if publisher.senders and publisher.senders["topic:orders"].in_flight == 3:
            break
    assert publisher.senders["topic:orders"].in_flight == 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert publisher.senders["topic:orders"].answered == 0
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_publish_raises_before_anything_is_sent() -> None:
    publisher = ScriptedPublisher()
    bad = OrderShipped.model_construct(order_id="o", carrier="", tracking_number="t")
    with pytest.raises(EventValidationError, match="carrier"):
        await publisher.publish(bad)
    assert publisher.resolved == []
