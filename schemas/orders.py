"""Events of the reference order flow.

Money is in integer minor units (cents): exact, and a JSON number, so SNS filter policies and
EventBridge patterns can compare it numerically. ``OrderPlaced`` is at version 2; version 1 (a
decimal ``amount``, no currency, no lines) is still accepted on consume through
``upcast_order_placed_v1``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Currency = Literal["EUR", "USD", "GBP"]


class OrderLine(_Event):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=1000)
    unit_price_cents: int = Field(ge=0)


class OrderPlacedV1(_Event):
    order_id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    amount: Decimal = Field(ge=0, decimal_places=2)
    country: str = Field(min_length=2, max_length=2)


class OrderPlaced(_Event):
    order_id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    lines: list[OrderLine] = Field(default_factory=list)
    total_cents: int = Field(ge=0)
    currency: Currency = "EUR"
    country: str = Field(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$")


def upcast_order_placed_v1(data: dict[str, Any]) -> dict[str, Any]:
    """OrderPlaced v1 -> v2: the decimal amount becomes cents; v1 orders were all in EUR."""
    out = {k: v for k, v in data.items() if k != "amount"}
    out["total_cents"] = int(Decimal(str(data["amount"])) * 100)
    out["currency"] = "EUR"
    out["lines"] = []
    return out


class PaymentCaptured(_Event):
    order_id: str = Field(min_length=1, max_length=64)
    payment_id: str = Field(min_length=1, max_length=64)
    amount_cents: int = Field(ge=0)
    currency: Currency = "EUR"


class PaymentFailed(_Event):
    order_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=500)


class OrderShipped(_Event):
    order_id: str = Field(min_length=1, max_length=64)
    carrier: str = Field(min_length=1, max_length=64)
    tracking_number: str = Field(min_length=1, max_length=64)


class LedgerEntry(_Event):
    """A FIFO event: entries of one account must be applied in order."""

    account_id: str = Field(min_length=1, max_length=64)
    sequence: int = Field(ge=0)
    amount_cents: int
