"""publish_many as a pipeline: batches leave while later events are prepared (scripted senders).

The guarantees of a batched publish still hold when the sending overlaps the preparing: one result
per event in order, refusals reported and not sent, FIFO batches in order, failed entries retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import pytest
from pydantic import BaseModel, ConfigDict

from bus.errors import AwsError, EventValidationError, PublishError, SettingsError
from bus.publish.delivery import Outcomes
from bus.publish.pipeline import Pipeline
from bus.publish.prepare import Channel, FlowContext, Prepared, prepare_routed
from bus.publish.publisher import WINDOW_PER_CALL
from bus.publish.senders import EntryOutcome, Sender, entry_id
from bus.schema import EventSpec, Registry
from bus.topology.model import Destination
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
    def throttle_every_third(attempt: int, item: Prepared) -> EntryOutcome:
        if item.index % 3 == 0 and attempt == 1:
            return EntryOutcome(entry_id(item), code="Throttling", retryable=True)
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


# -- the 256 KiB request limit, on the path publish_many takes ------------------------------------


class Bulky(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    blob: str


BULKY = EventSpec(
    "Bulky",
    1,
    Bulky,
    "shop",
    destinations=(
        Destination(queue="billing"),
        Destination(topic="orders"),
        Destination(bus="shop-events"),
    ),
)
EVERY_KIND = ("queue:billing", "topic:orders", "bus:shop-events")


def bulky_publisher() -> ScriptedPublisher:
    return ScriptedPublisher(registry=Registry([BULKY]))


async def test_big_events_go_two_to_a_call_on_every_kind_of_destination() -> None:
    publisher = bulky_publisher()
    events = [Bulky(key=f"k{n}", blob="x" * 100_000) for n in range(6)]
    results = await publisher.publish_many(events, check=True)
    assert [len(r.deliveries) for r in results] == [3] * 6
    for label in EVERY_KIND:
        sender = publisher.senders[label]
        assert sender.calls == [[0, 1], [2, 3], [4, 5]], label
        by_index = {item.index: item for item in sender.sent}
        for call in sender.calls:
            sizes = [by_index[i].entry_size(sender.channel) for i in call]
            assert 200_000 < sum(sizes) <= 262_144, label  # a third entry would not fit


async def test_eventbridge_calls_count_the_putevents_entry_size() -> None:
    """Two entries of exactly half of 256 KiB by PutEvents' rule (14 bytes for Time, Source,
    DetailType, Detail) fit in one PutEvents call; the same events are bigger for SNS and SQS
    (body plus attributes), so there they need a call each. One byte more splits EventBridge too."""
    publisher = bulky_publisher()
    route = publisher.route(BULKY)
    empty = prepare_routed(0, route, Bulky(key="k0", blob=""), FlowContext())
    overhead = 14 + len(b"shop") + len(b"Bulky")
    assert empty.entry_size(Channel("bus", "shop-events")) == overhead + empty.body_bytes
    fill = 262_144 // 2 - overhead - empty.body_bytes
    await publisher.publish_many([Bulky(key=f"k{n}", blob="x" * fill) for n in range(2)])
    assert publisher.senders["bus:shop-events"].calls == [[0, 1]]
    assert publisher.senders["topic:orders"].calls == [[0], [1]]
    assert publisher.senders["queue:billing"].calls == [[0], [1]]
    bigger = bulky_publisher()
    await bigger.publish_many([Bulky(key=f"k{n}", blob="x" * (fill + 1)) for n in range(2)])
    assert bigger.senders["bus:shop-events"].calls == [[0], [1]]


# -- a send that raises: every event still gets its result -----------------------------------------


class BrokenSends(ScriptedPublisher):
    """No credentials for the topic; the bus's sender breaks from its second batch on."""

    async def _resolve(self, channel: Channel) -> Sender:
        if channel.kind == "topic":
            raise SettingsError("Unable to locate credentials")
        sender = await super()._resolve(channel)
        send = sender.send

        async def breaking(batch: Sequence[Prepared]) -> list[EntryOutcome]:
            if batch[0].index >= 10:
                raise RuntimeError("a bug in the sender")
            return await send(batch)

        sender.send = breaking  # type: ignore[method-assign]
        return sender


async def test_any_error_of_a_send_becomes_the_outcome_of_its_entries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    finishes: list[int] = []
    finish = Pipeline.finish

    async def counted(self: Pipeline) -> dict[Channel, Outcomes]:
        finishes.append(1)
        return await finish(self)

    monkeypatch.setattr(Pipeline, "finish", counted)
    publisher = BrokenSends()
    orders = [
        OrderPlaced(order_id=f"o-{n}", customer_id="c", total_cents=n, country="DE")
        for n in range(35)
    ]
    results = await publisher.publish_many(orders)
    assert finishes == [1]
    assert [r.index for r in results] == list(range(35))
    for r in results:
        topic, bus = r.deliveries
        assert (topic.error_code, topic.error) == ("SettingsError", "Unable to locate credentials")
        if r.index < 10:
            assert bus.ok
        else:
            assert (bus.error_code, bus.error) == ("RuntimeError", "a bug in the sender")
    assert len(publisher.senders["bus:shop-events"].sent) == 10
    with pytest.raises(PublishError) as info:
        await publisher.publish_many(orders[:1], check=True)
    assert info.value.code == "SettingsError"


async def test_a_sender_that_raises_on_a_retry_fails_the_retried_entries() -> None:
    class FlakyThenBroken(ScriptedPublisher):
        async def _resolve(self, channel: Channel) -> Sender:
            sender = await super()._resolve(channel)
            send = sender.send

            async def breaking(batch: Sequence[Prepared]) -> list[EntryOutcome]:
                if self.senders[channel.label].calls:  # the first call went out: break now
                    raise SettingsError("credentials expired")
                return await send(batch)

            sender.send = breaking  # type: ignore[method-assign]
            return sender

    def throttle_odd(attempt: int, item: Prepared) -> EntryOutcome:
        if item.index % 2:
            return EntryOutcome(entry_id(item), code="Throttling", retryable=True)
        return ok(attempt, item)

    publisher = FlakyThenBroken({"topic:orders": throttle_odd})
    results = await publisher.publish_many([shipped(n) for n in range(4)])
    assert [r.deliveries[0].error_code for r in results] == [None, "SettingsError"] * 2
    assert [r.ok for r in results] == [True, False, True, False]
