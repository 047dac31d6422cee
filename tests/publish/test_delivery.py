"""Batching and retries of failed entries, against a scripted sender (the transport boundary).

These tests check bus's own logic (which entries are sent again, how batches are cut, what each event
is told); what AWS does is checked against LocalStack in test_publisher_aws.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.errors import EventValidationError, PublishError
from bus.publish import PublishRetry, delivery
from bus.publish.delivery import deliver
from bus.publish.prepare import Channel, Prepared
from bus.publish.senders import EntryOutcome, Sender, batches, entry_id, is_retryable
from schemas.orders import OrderPlaced
from tests.publish.scripted import FAST, ScriptedPublisher, ScriptedSender, items, ok


async def run(sender: Sender, prepared: list[Prepared], limit: int = 10) -> dict[str, EntryOutcome]:
    return await deliver(sender, prepared, retry=FAST, limiter=asyncio.Semaphore(limit))


async def test_batches_of_ten_sent_concurrently() -> None:
    sender = ScriptedSender(Channel("topic", "orders"))
    outcomes = await run(sender, items(25))
    assert sorted(len(c) for c in sender.calls) == [5, 10, 10]
    assert sender.max_in_flight == 3
    assert all(o.message_id for o in outcomes.values())
    assert len(outcomes) == 25


def test_batches_respect_the_request_size() -> None:
    prepared = items(6, blob="x" * 60)
    sizes = {id(p): 100_000 for p in prepared}
    cut = batches(prepared, lambda p: sizes[id(p)], 10, 262_144)
    assert [len(b) for b in cut] == [2, 2, 2]
    assert [p.index for b in cut for p in b] == list(range(6))


async def test_only_failed_entries_are_retried() -> None:
    def throttle_odd_once(attempt: int, item: Prepared) -> EntryOutcome:
        if item.index % 2 and attempt == 1:
            return EntryOutcome(
                entry_id(item), code="Throttling", message="slow down", retryable=True
            )
        return ok(attempt, item)

    sender = ScriptedSender(Channel("topic", "orders"), throttle_odd_once)
    outcomes = await run(sender, items(6))
    assert sender.calls[0] == [0, 1, 2, 3, 4, 5]
    assert sender.calls[1:] == [[1, 3, 5]]
    assert all(o.message_id for o in outcomes.values())
    assert outcomes["3"].message_id == "m-3-2"


async def test_sender_faults_are_final_and_reported() -> None:
    def reject_two(attempt: int, item: Prepared) -> EntryOutcome:
        if item.index == 2:
            return EntryOutcome(
                entry_id(item), code="InvalidParameter", message="bad", retryable=False
            )
        return ok(attempt, item)

    sender = ScriptedSender(Channel("topic", "orders"), reject_two)
    outcomes = await run(sender, items(4))
    assert len(sender.calls) == 1
    assert outcomes["2"].code == "InvalidParameter"
    assert outcomes["2"].message_id is None


async def test_retries_stop_after_the_last_attempt_with_the_aws_code() -> None:
    def always_throttled(attempt: int, item: Prepared) -> EntryOutcome:
        return EntryOutcome(entry_id(item), code="ThrottlingException", retryable=True)

    sender = ScriptedSender(Channel("bus", "b"), always_throttled)
    outcomes = await run(sender, items(2))
    assert len(sender.calls) == FAST.attempts
    assert {o.code for o in outcomes.values()} == {"ThrottlingException"}


async def test_fifo_batches_go_one_after_another_in_order() -> None:
    sender = ScriptedSender(Channel("topic", "ledger.fifo", fifo=True))
    await run(sender, items(30))
    assert sender.max_in_flight == 1
    assert [i for call in sender.calls for i in call] == list(range(30))


async def test_the_limiter_bounds_calls_in_flight() -> None:
    sender = ScriptedSender(Channel("topic", "orders"))
    await run(sender, items(100), limit=2)
    assert sender.max_in_flight == 2


@pytest.mark.parametrize(
    ("code", "sender_fault", "retry"),
    [
        ("Throttling", True, True),
        ("ThrottlingException", None, True),
        ("InternalError", None, True),
        ("InternalFailure", None, True),
        ("ServiceUnavailable", None, True),
        ("ConnectionError", None, True),
        ("KMSThrottlingException", None, True),
        ("InvalidParameter", True, False),
        ("SomethingServerSide", False, True),
        ("NotFound", None, False),
    ],
)
def test_retryable_codes(code: str, sender_fault: bool | None, retry: bool) -> None:
    assert is_retryable(code, sender_fault) is retry


def _fails_on_bus(attempt: int, item: Prepared) -> EntryOutcome:
    return EntryOutcome(entry_id(item), code="AccessDenied", message="no", retryable=False)


async def test_partial_delivery_is_reported_per_destination() -> None:
    publisher = ScriptedPublisher({"bus:shop-events": _fails_on_bus})
    event = OrderPlaced(order_id="o", customer_id="c", total_cents=1, country="DE")
    with pytest.raises(PublishError) as info:
        await publisher.publish(event)
    assert info.value.code == "AccessDenied"
    assert "topic:orders m-0-1" in str(info.value)
    assert "bus:shop-events failed: AccessDenied" in str(info.value)
    results = await publisher.publish_many([event, event])
    assert [r.ok for r in results] == [False, False]
    assert [d.destination for d in results[0].deliveries] == ["topic:orders", "bus:shop-events"]
    assert len(results[0].message_ids) == 1


async def test_publish_many_keeps_order_and_reports_refusals() -> None:
    publisher = ScriptedPublisher({})
    good = OrderPlaced(order_id="o", customer_id="c", total_cents=1, country="DE")
    bad = OrderPlaced.model_construct(**{**good.model_dump(), "country": "germany"})
    results = await publisher.publish_many([good, bad, good])
    assert [r.index for r in results] == [0, 1, 2]
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].deliveries == ()
    assert results[1].error is not None
    assert "country" in str(results[1].error)
    with pytest.raises(EventValidationError) as refused:  # only refusals: an EventError
        await publisher.publish_many([good, bad], check=True)
    assert refused.value.fields == ("country",)
    assert "event #1 of 2; the others were published" in refused.value.__notes__
    with pytest.raises(EventValidationError, match=r"2 of 3 events refused") as both:
        await publisher.publish_many([bad, good, bad], check=True)
    assert both.value.fields == ("country",)


async def test_bound_publisher_carries_the_flow_context() -> None:
    publisher = ScriptedPublisher()
    trace = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    bound = publisher.bind(correlation_id="flow-1", causation_id="evt-0", traceparent=trace)
    event = OrderPlaced(order_id="o", customer_id="c", total_cents=1, country="DE")
    first = await bound.publish(event)
    await bound.bind(correlation_id="flow-2").publish_many([event])
    bodies = [json.loads(item.body) for item in publisher.senders["topic:orders"].sent]
    assert bodies[0]["id"] == first.event_id
    assert (bodies[0]["correlationid"], bodies[0]["causationid"]) == ("flow-1", "evt-0")
    assert bodies[0]["traceparent"] == trace
    assert bodies[1]["correlationid"] == "flow-2"
    assert "causationid" not in bodies[1]


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=120_000), max_size=60),
    max_entries=st.integers(min_value=1, max_value=10),
)
def test_batches_keep_order_and_both_limits(sizes: list[int], max_entries: int) -> None:
    prepared = items(len(sizes))
    size_of = {p.index: size for p, size in zip(prepared, sizes, strict=True)}
    cut = batches(prepared, lambda p: size_of[p.index], max_entries, 262_144)
    assert [p.index for b in cut for p in b] == list(range(len(sizes)))
    for batch in cut:
        assert 1 <= len(batch) <= max_entries
        assert sum(size_of[p.index] for p in batch) <= 262_144
    for before, after in itertools.pairwise(cut):
        # a batch was closed early only because the next entry did not fit in it
        if len(before) < max_entries:
            assert sum(size_of[p.index] for p in before) + size_of[after[0].index] > 262_144


def test_batcher_hands_over_a_batch_as_soon_as_it_is_full() -> None:
    from bus.publish.senders import Batcher

    prepared = items(12)
    batcher = Batcher(lambda p: p.body_bytes)
    handed = [[p.index for p in b] for item in prepared for b in batcher.add(item)]
    assert handed == [list(range(10))]
    assert [p.index for p in batcher.take()] == [10, 11]
    assert batcher.take() == []


@given(st.integers(min_value=1, max_value=30))
def test_retry_waits_grow_and_are_capped(number: int) -> None:
    retry = PublishRetry(initial=0.2, maximum=5.0, jitter=False)
    assert retry.delay(number) == min(0.2 * 2 ** (number - 1), 5.0)
    assert retry.delay(number + 1) >= retry.delay(number)
    jittered = PublishRetry(initial=0.2, maximum=5.0, jitter=True)
    assert retry.delay(number) / 2 <= jittered.delay(number) <= retry.delay(number)


async def test_retries_wait_with_exponential_backoff_up_to_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []

    async def recorded(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(delivery, "sleep", recorded)

    def always_throttled(attempt: int, item: Prepared) -> EntryOutcome:
        return EntryOutcome(entry_id(item), code="Throttling", retryable=True)

    retry = PublishRetry(attempts=7, initial=0.1, maximum=0.5, jitter=False)
    sender = ScriptedSender(Channel("topic", "orders"), always_throttled, delay=0)
    outcomes = await deliver(sender, items(3), retry=retry, limiter=asyncio.Semaphore(10))
    assert waits == [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]  # doubling, then capped at `maximum`
    assert len(sender.calls) == retry.attempts
    assert {o.code for o in outcomes.values()} == {"Throttling"}
    # The same waits on publish_many's path (the pipeline's first pass, then the lane's retries).
    waits.clear()
    publisher = ScriptedPublisher({"topic:orders": always_throttled}, retry=retry)
    event = OrderPlaced(order_id="o", customer_id="c", total_cents=1, country="DE")
    results = await publisher.publish_many([event] * 3)
    assert waits == [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]
    assert {r.deliveries[0].error_code for r in results} == {"Throttling"}


async def test_retry_waits_are_jittered_within_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def recorded(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(delivery, "sleep", recorded)

    def throttled(attempt: int, item: Prepared) -> EntryOutcome:
        return EntryOutcome(entry_id(item), code="Throttling", retryable=True)

    retry = PublishRetry(attempts=5, initial=0.1, maximum=0.5, jitter=True)
    sender = ScriptedSender(Channel("topic", "orders"), throttled, delay=0)
    await deliver(sender, items(1), retry=retry, limiter=asyncio.Semaphore(1))
    assert len(waits) == 4
    for wait, base in zip(waits, [0.1, 0.2, 0.4, 0.5], strict=True):
        assert base / 2 <= wait <= base


async def test_check_names_refusals_and_aws_failures_in_one_publish_error() -> None:
    publisher = ScriptedPublisher({"bus:shop-events": _fails_on_bus})
    good = OrderPlaced(order_id="o", customer_id="c", total_cents=1, country="DE")
    bad = OrderPlaced.model_construct(**{**good.model_dump(), "country": "germany"})
    with pytest.raises(PublishError) as info:
        await publisher.publish_many([good, bad, good], check=True)
    assert info.value.code == "AccessDenied"
    assert set(info.value.failures) == {0, 1, 2}
    assert "(2 failed at AWS, 1 refused before sending)" in str(info.value)
    assert "#1 OrderPlaced -: not sent: OrderPlaced v2: invalid data: country" in str(info.value)


async def test_a_bound_traceparent_that_is_not_w3c_is_dropped_not_fatal() -> None:
    """A consumed event's broken traceparent must not stop its handler's follow-up events."""
    publisher = ScriptedPublisher()
    bound = publisher.bind(correlation_id="flow-1", traceparent="not-a-trace")
    event = OrderPlaced(order_id="o", customer_id="c", total_cents=1, country="DE")
    assert (await bound.publish(event)).ok
    [item] = publisher.senders["topic:orders"].sent
    body = json.loads(item.body)
    assert body["correlationid"] == "flow-1"
    assert "traceparent" not in body
    with pytest.raises(EventValidationError, match="traceparent"):  # given to publish: refused
        await bound.publish(event, traceparent="not-a-trace")
