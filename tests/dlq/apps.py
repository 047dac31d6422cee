"""Event models and handlers the DLQ tests bind in their topologies (``tests.dlq.apps:...``).

Handlers fail on purpose until ``FIXED`` is set, the way a bug in production would until deployed:
``Order.behaviour`` says how (``fail``: raises ``Declined``, the handler-error path; ``reject``:
raises ``Reject``). Accepted events are recorded in ``HANDLED`` (queue, key, event id, data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from bus.control import Reject
from bus.worker import Context


class Order(BaseModel):
    key: str
    total_cents: int = Field(ge=0)
    country: str = "DE"
    behaviour: str = "ok"


class Entry(BaseModel):
    """A FIFO event: entries of one account in order."""

    account: str
    n: int = Field(ge=0)
    key: str


class Declined(Exception):
    """The handler's permanent failure: the message dies after ``max_receive_count`` receives."""


@dataclass(frozen=True)
class Handled:
    queue: str
    key: str
    event_id: str
    data: dict[str, Any]


HANDLED: list[Handled] = []
FIXED = {"orders": False, "ledger": False}


async def handle_order(event: Order, ctx: Context) -> None:
    if not FIXED["orders"]:
        if event.behaviour == "fail":
            raise Declined(f"card declined for order {event.key}")
        if event.behaviour == "reject":
            raise Reject(f"order {event.key} rejected")
    HANDLED.append(Handled(ctx.queue, event.key, ctx.envelope.id, event.model_dump()))


async def handle_entry(event: Entry, ctx: Context) -> None:
    if not FIXED["ledger"]:
        raise Reject(f"ledger closed for {event.account}")
    HANDLED.append(Handled(ctx.queue, event.key, ctx.envelope.id, event.model_dump()))


def handled(queue: str) -> list[Handled]:
    return [h for h in HANDLED if h.queue == queue]
