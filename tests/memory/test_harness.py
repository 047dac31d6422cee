"""The harness: idleness, peeking, logs, and a worker that cannot finish."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.memory import NotIdleError, open_harness
from bus.middleware import NextEvent, Outgoing, PublishMiddleware
from schemas.orders import OrderLine, OrderPlaced

ROOT = Path(__file__).resolve().parents[2]


def order(order_id: str, customer: str = "c-1") -> OrderPlaced:
    return OrderPlaced(
        order_id=order_id, customer_id=customer, total_cents=100, country="DE",
        lines=[OrderLine(sku="s", quantity=1, unit_price_cents=100)],
    )  # fmt: skip


async def test_published_messages_wait_in_their_queues_until_a_worker_runs() -> None:
    async with open_harness(ROOT / "topology.yaml") as shop:
        await shop.publish(order("o-peek"))
        (billing,) = shop.messages("billing")
        assert billing["MessageAttributes"]["event_type"]["StringValue"] == "OrderPlaced"
        assert shop.messages("shipping") == []
        stats = await shop.run_until_idle(queues=("billing",))
        assert stats.queue("billing").processed == 1
        assert shop.messages("billing") == []
        assert len(shop.messages("shipping")) == 1  # PaymentCaptured, not consumed this time
        assert any(e["event"] == "payment captured" for e in shop.logs)
        with pytest.raises(KeyError):
            shop.messages("nope")


async def test_work_left_after_max_time_is_reported() -> None:
    async with open_harness(ROOT / "topology.yaml") as shop:
        url = (await shop.aws.sqs.get_queue_url(QueueName="test-billing"))["QueueUrl"]
        await shop.aws.sqs.send_message(QueueUrl=url, MessageBody="{}", DelaySeconds=900)
        with pytest.raises(NotIdleError, match="test-billing"):
            await shop.run_until_idle(max_time=60, queues=("billing",))
        assert shop.clock.elapsed < 900  # gave up at max_time, not when the message came due


PUBLISHED: list[str] = []


class Count(PublishMiddleware):
    """Declared in topology.yaml below: notes the type of every event published through it."""

    async def event(self, outgoing: Outgoing, call_next: NextEvent) -> None:
        PUBLISHED.append(type(outgoing.event).__name__)
        await call_next(outgoing)


async def test_the_harness_publishes_through_the_topologys_publish_middleware(
    tmp_path: Path,
) -> None:
    declared = tmp_path / "topology.yaml"
    declared.write_text(
        (ROOT / "topology.yaml").read_text()
        + "\nmiddleware:\n  publish: [tests.memory.test_harness:Count]\n"
    )
    PUBLISHED.clear()
    async with open_harness(declared, base_dir=ROOT) as shop:
        await shop.publish(order("o-mw"))
        assert PUBLISHED == ["OrderPlaced"]
        await shop.run_until_idle(queues=("billing",))
    assert PUBLISHED == ["OrderPlaced", "PaymentCaptured"]  # the handler's follow-up too
