"""Fraud review of high-value orders (the EventBridge rule sends only orders of 1,000.00 or more).

Orders the rules clear are logged; orders they cannot clear are rejected (``Reject``) so that they
land in ``fraud-review-dlq`` at once, with the reason, for an analyst: that DLQ is the manual
review queue.
"""

from __future__ import annotations

from bus.control import Reject
from bus.worker import Context
from schemas.orders import OrderPlaced

REVIEW_ABOVE_CENTS = 2_000_000
RISKY_COUNTRIES = frozenset({"XX", "ZZ"})


def risk_reasons(event: OrderPlaced) -> list[str]:
    reasons = []
    if event.total_cents >= REVIEW_ABOVE_CENTS:
        reasons.append(f"total {event.total_cents / 100:.2f} {event.currency} is above the limit")
    if event.country in RISKY_COUNTRIES:
        reasons.append(f"shipping country {event.country} needs a check")
    if event.customer_id.startswith("new-") and event.total_cents >= 500_000:
        reasons.append("a new customer's first order is over 5,000.00")
    return reasons


async def review_order(event: OrderPlaced, ctx: Context) -> None:
    reasons = risk_reasons(event)
    if reasons:
        raise Reject(f"order {event.order_id} needs a manual review: " + "; ".join(reasons))
    ctx.log.info("order cleared", order_id=event.order_id, total_cents=event.total_cents)
