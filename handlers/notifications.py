"""Notifications: tell the customer their order shipped, or that the payment failed.

Messages go to ``OUTBOX`` (the last 1,000, newest last) instead of an e-mail service.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from bus.worker import Context
from schemas.orders import OrderShipped, PaymentFailed


@dataclass(frozen=True)
class Notice:
    order_id: str
    subject: str
    text: str
    correlation_id: str | None


OUTBOX: deque[Notice] = deque(maxlen=1000)


async def order_shipped(event: OrderShipped, ctx: Context) -> None:
    OUTBOX.append(
        Notice(
            event.order_id,
            f"Your order {event.order_id} is on its way",
            f"{event.carrier} tracking number {event.tracking_number}",
            ctx.correlation_id,
        )
    )
    ctx.log.info("shipping notice sent", order_id=event.order_id)


async def payment_failed(event: PaymentFailed, ctx: Context) -> None:
    OUTBOX.append(
        Notice(
            event.order_id,
            f"We could not charge your order {event.order_id}",
            event.reason,
            ctx.correlation_id,
        )
    )
    ctx.log.info("payment failure notice sent", order_id=event.order_id)
