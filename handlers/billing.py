"""Billing: charge an order, then publish PaymentCaptured or PaymentFailed.

It fails on purpose for some inputs, so that ``bus up`` shows every path a message can take:

- customer ids starting ``flaky-``: the payment gateway times out on the first try; the timeout is
  a ``TimeoutError``, transient under the default retry policy, so the worker tries again in-process
  and the charge succeeds;
- customer ids starting ``declined-``: the gateway answers with a decline code billing has no rule
  for (``PaymentDeclined``, not transient): the order is redelivered with backoff, and on its last
  allowed receive it goes to the ``billing-dlq`` with the error recorded, for a person to look at;
- orders over the credit limit: a business outcome, not an error: PaymentFailed is published.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter

from bus.worker import Context
from schemas.orders import OrderPlaced, PaymentCaptured, PaymentFailed

CREDIT_LIMIT_CENTS = 500_000


class PaymentDeclined(Exception):
    """The card issuer declined with a code billing has no rule for: a person must look at it."""


class GatewayTimeout(TimeoutError):
    """The payment gateway did not answer in time (transient)."""


class FakeGateway:
    """Stands in for a payment provider: a few milliseconds per charge, deterministic outcomes."""

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()

    async def charge(self, order_id: str, customer_id: str, amount_cents: int) -> str:
        await asyncio.sleep(0.005)
        self.attempts[order_id] += 1
        if customer_id.startswith("flaky-") and self.attempts[order_id] == 1:
            raise GatewayTimeout(f"payment gateway timed out charging order {order_id}")
        if customer_id.startswith("declined-"):
            raise PaymentDeclined(f"card declined for order {order_id} (issuer code 05)")
        digest = hashlib.sha256(f"{order_id}:{amount_cents}".encode()).hexdigest()
        return f"pay-{digest[:12]}"


GATEWAY = FakeGateway()


async def charge_order(event: OrderPlaced, ctx: Context) -> None:
    if event.total_cents > CREDIT_LIMIT_CENTS:
        ctx.log.info("credit limit exceeded", order_id=event.order_id)
        await ctx.publisher.publish(
            PaymentFailed(order_id=event.order_id, reason="credit limit exceeded")
        )
        return
    payment_id = await GATEWAY.charge(event.order_id, event.customer_id, event.total_cents)
    ctx.log.info("payment captured", order_id=event.order_id, payment_id=payment_id)
    await ctx.publisher.publish(
        PaymentCaptured(
            order_id=event.order_id,
            payment_id=payment_id,
            amount_cents=event.total_cents,
            currency=event.currency,
        )
    )
