"""bus's DLQ tools on the in-memory AWS: peek a dead letter, redrive it with SQS's move task."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bus.dlq import (
    export,
    follow,
    list_queues,
    peek,
    purge,
    redrive_selected,
    replay,
    start_move_task,
)
from bus.errors import ConfigError, SettingsError
from bus.memory import open_harness
from schemas.orders import OrderLine, OrderPlaced, OrderShipped

ROOT = Path(__file__).resolve().parents[2]


async def test_a_dead_letter_is_peeked_and_moved_back_by_the_dlq_tools() -> None:
    async with open_harness(ROOT / "topology.yaml") as shop:
        placed = OrderPlaced(
            order_id="o-dlq", customer_id="declined-9", total_cents=100, country="DE",
            lines=[OrderLine(sku="s", quantity=1, unit_price_cents=100)],
        )  # fmt: skip
        await shop.publish(placed)
        await shop.run_until_idle(queues=("billing",))
        peeked = await peek(shop.aws, "billing-dlq", topology=shop.topology, env=shop.env)
        (letter,) = peeked
        assert letter.data["order_id"] == "o-dlq"
        assert letter.failure.reason == "handler-error"
        await asyncio.sleep(60)  # peek holds what it looked at for a while
        task = await start_move_task(shop.aws, "billing-dlq", topology=shop.topology, env=shop.env)
        statuses = [s async for s in follow(shop.aws, task)]
        assert statuses[-1].status == "COMPLETED"
        assert statuses[-1].moved == 1
        assert shop.dead_letters("billing") == []
        (back,) = shop.messages("billing")
        assert "o-dlq" in back["Body"]


async def test_purge_takes_the_topologys_dead_letter_queues_and_refuses_the_rest(
    tmp_path: Path,
) -> None:
    """Which queues receive dead letters: SQS knows a queue's DLQ (redrive policy); an SNS
    subscription's or a rule target's DLQ only the topology knows (the reference application's
    ``events-undelivered``, EventBridge's DLQ for the ``fraud-review`` target)."""
    text = (ROOT / "topology.yaml").read_text()
    text = text.replace(  # the notifications subscription gets SNS's own DLQ
        "    filter_policy_scope: MessageBody\n",
        "    filter_policy_scope: MessageBody\n    dead_letter_queue: events-undelivered\n",
    )
    (tmp_path / "topology.yaml").write_text(text)
    async with open_harness(tmp_path / "topology.yaml", base_dir=ROOT) as shop:
        assert shop.topology.dead_letter_queues() == {
            "billing-dlq", "shipping-dlq", "notifications-dlq", "fraud-review-dlq",
            "ledger-dlq.fifo", "events-undelivered",
        }  # fmt: skip
        for dlq in ("billing-dlq", "events-undelivered"):
            report = await purge(shop.aws, dlq, topology=shop.topology, env=shop.env)
            assert report.everything
        url = (await shop.aws.sqs.get_queue_url(QueueName=f"{shop.env}-events-undelivered"))[
            "QueueUrl"
        ]
        with pytest.raises(ConfigError, match=r"\(no topology loaded, which alone knows"):
            await purge(shop.aws, url)  # SQS alone does not know it for a DLQ
        for live in ("billing", "fraud-review"):
            with pytest.raises(ConfigError, match="is not a dead-letter queue"):
                await purge(shop.aws, live, topology=shop.topology, env=shop.env)
        await asyncio.sleep(60)  # one PurgeQueue a minute per queue (virtual time)
        assert (await purge(shop.aws, url, any_queue=True)).everything


async def test_an_event_eventbridge_dead_letters_is_listed_with_its_reason_and_redriven() -> None:
    """The in-memory EventBridge dead-letters an event whose target queue is gone into the
    target's DLQ (``events-undelivered``), with EventBridge's attributes: ``list_queues`` lists
    that DLQ with the rule and target it serves and EventBridge's reason, and a redrive sends the
    event to the target's queue once it exists again (refused, with ``--to``, while it does not)."""
    async with open_harness(ROOT / "topology.yaml") as shop:
        sqs = shop.aws.sqs
        fraud = (await sqs.get_queue_url(QueueName=f"{shop.env}-fraud-review"))["QueueUrl"]
        await sqs.delete_queue(QueueUrl=fraud)
        placed = OrderPlaced(
            order_id="o-eb", customer_id="c-1", total_cents=250_000, country="DE",
            lines=[OrderLine(sku="s", quantity=1, unit_price_cents=250_000)],
        )  # fmt: skip
        await shop.publish(placed)
        summaries = {
            s.queue.logical: s for s in await list_queues(shop.aws, shop.topology, shop.env)
        }
        assert list(summaries)[-1] == "events-undelivered"  # after the queues' own DLQs
        undelivered = summaries["events-undelivered"]
        assert undelivered.sources == ()
        assert undelivered.serves == [
            f"rule {shop.env}-high-value-orders -> {shop.env}-fraud-review"
        ]
        assert dict(undelivered.reasons) == {"eventbridge:NO_RESOURCE": 1}
        review = summaries["fraud-review-dlq"]  # its source queue was deleted: named as gone
        assert (review.sources, review.serves) == ((), [f"{shop.env}-fraud-review (gone)"])
        assert review.to_json(datetime.now(UTC))["gone"] == [f"{shop.env}-fraud-review"]
        (letter,) = await peek(shop.aws, "events-undelivered", topology=shop.topology, env=shop.env)
        assert letter.failure.reported_by == "EventBridge"
        assert letter.failure.error == "The specified queue does not exist."
        assert letter.data["order_id"] == "o-eb"
        (dead,) = shop.dead_letters("events-undelivered")  # the harness reads it as bus dlq does
        assert (dead.failure.reason, dead.failure.reported_by) == (
            "eventbridge:NO_RESOURCE",
            "EventBridge",
        )
        await asyncio.sleep(60)  # the peeks hold what they looked at for a while
        with pytest.raises(SettingsError, match="move task moves only from those"):
            await start_move_task(  # SQS's move task needs an SQS source: refused before a call
                shop.aws, "events-undelivered", topology=shop.topology, env=shop.env,
                to="fraud-review-dlq",
            )  # fmt: skip
        with pytest.raises(SettingsError, match=r"fraud-review does not exist: use --to"):
            await redrive_selected(
                shop.aws, "events-undelivered", topology=shop.topology, env=shop.env
            )
        await sqs.create_queue(QueueName=f"{shop.env}-fraud-review")
        report = await redrive_selected(
            shop.aws, "events-undelivered", topology=shop.topology, env=shop.env
        )
        assert (report.moved, report.complete) == (1, True)
        (back,) = shop.messages("fraud-review")
        assert "o-eb" in back["Body"]
        assert shop.messages("events-undelivered") == []


async def test_the_harness_reads_an_sns_dead_letter_as_bus_dlq_does(tmp_path: Path) -> None:
    """A message SNS dead-letters (its subscribed queue gone) carries no reason: the harness's
    ``dead_letters`` says ``unknown``, as ``bus dlq`` does for a DLQ only SNS writes to, not
    SQS's ``max-receives``."""
    text = (ROOT / "topology.yaml").read_text()
    text = text.replace(  # the notifications subscription gets SNS's own DLQ
        "    filter_policy_scope: MessageBody\n",
        "    filter_policy_scope: MessageBody\n    dead_letter_queue: notifications-undelivered\n",
    ).replace(
        "\nsubscriptions:\n",
        "\n  notifications-undelivered: {dead_letter: false}\n\nsubscriptions:\n",
    )
    (tmp_path / "topology.yaml").write_text(text)
    async with open_harness(tmp_path / "topology.yaml", base_dir=ROOT) as shop:
        sqs = shop.aws.sqs
        gone = (await sqs.get_queue_url(QueueName=f"{shop.env}-notifications"))["QueueUrl"]
        await sqs.delete_queue(QueueUrl=gone)
        await shop.publish(OrderShipped(order_id="o-sns", carrier="dhl", tracking_number="t-1"))
        (dead,) = shop.dead_letters("notifications-undelivered")
        assert dead.failure.reason == "unknown"
        assert dead.data["order_id"] == "o-sns"
        (peeked,) = await peek(
            shop.aws, "notifications-undelivered", topology=shop.topology, env=shop.env
        )
        assert peeked.failure.reason == dead.failure.reason
        # exported and replayed without --to: back to the subscribed queue, as a redrive sends it
        await asyncio.sleep(60)  # the peek holds what it looked at for a while
        await sqs.create_queue(QueueName=f"{shop.env}-notifications")
        exported = tmp_path / "undelivered.jsonl"
        await export(shop.aws, "notifications-undelivered", exported, topology=shop.topology,
                     env=shop.env, wait_seconds=0)  # fmt: skip
        calls = shop.aws.faults.record()
        report = await replay(shop.aws, exported, registry=shop.registry, topology=shop.topology,
                              env=shop.env)  # fmt: skip
        assert (report.sent, dict(report.destinations)) == (1, {f"{shop.env}-notifications": 1})
        (back,) = shop.messages("notifications")
        assert "o-sns" in back["Body"]
        assert [c.operation for c in calls].count("ListDeadLetterSourceQueues") <= 1
