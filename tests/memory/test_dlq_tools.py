"""bus's DLQ tools on the in-memory AWS: peek a dead letter, redrive it with SQS's move task."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bus.dlq import follow, peek, start_move_task
from bus.memory import open_harness
from schemas.orders import OrderLine, OrderPlaced

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
