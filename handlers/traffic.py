"""The sample traffic ``bus up`` publishes: a steady mix of orders and ledger entries.

``bus up`` runs ``traffic`` (its default ``--traffic handlers.traffic:traffic``): it publishes
``sample_events()`` one by one, ``rate`` per second, until ``stop`` is set; an event refused or not
taken by AWS is logged and the stream goes on.

About one order in twelve fails for good (``declined-`` customers end in ``billing-dlq``), some
succeed only on a retry (``flaky-``), some exceed the credit limit (PaymentFailed), the high-value
ones also go to fraud review (some of which it rejects), and ledger entries flow in order per
account.

Where ``BUS_OUTBOX_URL`` names a database (``bus up`` sets it to ``.bus/shop.db`` and runs the relay
beside its workers), orders are placed as a shop would: the order row and its ``OrderPlaced``
commit in one transaction through the transactional outbox (``handlers.shop``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING

import structlog
from pydantic import BaseModel

from bus.errors import AwsError, EventError
from bus.publish.publisher import EventPublisher
from schemas.orders import LedgerEntry, OrderLine, OrderPlaced

if TYPE_CHECKING:
    from handlers.shop import Shop

COUNTRIES = ("DE", "FR", "NL", "GB", "US")


def _order(n: int, rng: random.Random) -> OrderPlaced:
    roll = rng.random()
    customer = f"c-{rng.randint(1, 500)}"
    if roll < 0.08:
        customer = f"declined-{customer}"
    elif roll < 0.16:
        customer = f"flaky-{customer}"
    elif roll < 0.20:
        customer = f"new-{customer}"
    lines = [
        OrderLine(
            sku=f"sku-{rng.randint(1, 99):02d}",
            quantity=rng.randint(1, 3),
            unit_price_cents=rng.choice((999, 2_499, 14_900)),
        )
        for _ in range(rng.randint(1, 4))
    ]
    total = sum(line.quantity * line.unit_price_cents for line in lines)
    country = "DE"
    if rng.random() < 0.15:  # a big order: fraud review (>= 1,000.00), some over the credit limit
        total = rng.choices((150_000, 650_000, 2_500_000), weights=(6, 3, 1))[0]
        country = "XX" if rng.random() < 0.1 else rng.choice(COUNTRIES)
    currency = "GBP" if rng.random() < 0.1 else "EUR"
    return OrderPlaced(
        order_id=f"o-{n}",
        customer_id=customer,
        lines=lines,
        total_cents=total,
        currency=currency,
        country=country,
    )


def sample_events(seed: int | None = None) -> Iterator[BaseModel]:
    """An endless stream of sample events: orders, and a ledger entry every third event."""
    rng = random.Random(seed)
    sequences = {f"acct-{a}": 0 for a in range(1, 6)}
    n = 0
    while True:
        n += 1
        yield _order(n, rng)
        if n % 3 == 0:
            account = rng.choice(sorted(sequences))
            yield LedgerEntry(
                account_id=account,
                sequence=sequences[account],
                amount_cents=rng.randint(-5_000, 20_000),
            )
            sequences[account] += 1


async def traffic(publisher: EventPublisher, stop: asyncio.Event, rate: float) -> None:
    """Publish ``sample_events()`` steadily, ``rate`` per second, until ``stop`` is set. With
    ``BUS_OUTBOX_URL`` set (``bus up`` sets it), orders are placed in the shop's database instead:
    each order row commits with its ``OrderPlaced`` in the outbox, which the relay publishes."""
    log = structlog.get_logger("handlers.traffic")
    loop = asyncio.get_running_loop()
    interval = 1.0 / rate
    next_at = loop.time()
    shop = await _open_shop()
    database_errors = shop.errors if shop is not None else ()
    try:
        for event in sample_events():
            if stop.is_set():
                return
            try:
                if shop is not None and isinstance(event, OrderPlaced):
                    await shop.place(event)
                else:
                    await publisher.publish(event)
            except EventError as exc:
                log.warning("sample event refused", error=str(exc))
            except AwsError as exc:
                log.warning("sample event not published", code=exc.code, error=str(exc))
            except database_errors as exc:  # the database is busy or down: the sample goes on
                log.warning("sample order not placed", error=str(exc))
            next_at = max(next_at + interval, loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), next_at - loop.time())
    finally:
        if shop is not None:
            await shop.close()


async def _open_shop() -> Shop | None:
    """The shop's database when ``BUS_OUTBOX_URL`` names one (and the topology ``BUS_TOPOLOGY``)."""
    url = os.environ.get("BUS_OUTBOX_URL")
    if not url:
        return None
    from bus.outbox import Outbox
    from bus.settings import Settings
    from handlers.shop import Shop

    return await Shop.open(url, Outbox.load(Settings.from_env()))
