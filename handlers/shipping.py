"""Shipping: a captured payment means the order ships; publish OrderShipped."""

from __future__ import annotations

import hashlib

from bus.worker import Context
from schemas.orders import OrderShipped, PaymentCaptured

CARRIERS = ("DHL", "UPS", "GLS")


def tracking_number(order_id: str) -> tuple[str, str]:
    """The carrier and tracking number of an order: the same every time (redeliveries agree)."""
    digest = hashlib.sha256(order_id.encode()).hexdigest()
    return CARRIERS[int(digest[:2], 16) % len(CARRIERS)], digest[2:14].upper()


async def ship_order(event: PaymentCaptured, ctx: Context) -> None:
    carrier, number = tracking_number(event.order_id)
    ctx.log.info("order shipped", order_id=event.order_id, carrier=carrier)
    await ctx.publisher.publish(
        OrderShipped(order_id=event.order_id, carrier=carrier, tracking_number=number)
    )
