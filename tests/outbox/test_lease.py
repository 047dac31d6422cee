"""The relay lease (SQLite and other databases without ``SKIP LOCKED``): it is kept while a batch
is out, however long its publish takes (throttling, retries), so a second relay never claims the
same rows meanwhile. The relays' publishers are stand-ins that take every row, slowly: what is
tested is the lease, not AWS."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from bus.outbox import Outbox, Relay, RelayOptions, metadata
from bus.outbox.database import open_engine
from bus.outbox.publish import Stored
from bus.publish.results import Delivery, PublishResult
from bus.settings import Settings
from schemas.orders import OrderPlaced

ROOT = Path(__file__).resolve().parents[2]
LEASE = 0.3


class Slow:
    """Takes every row it is handed, after ``seconds`` (a publish outlasting the lease)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sent: list[str] = []

    async def publish_many(self, rows: Iterable[Stored]) -> list[PublishResult]:
        taken = list(rows)
        await asyncio.sleep(self.seconds)
        self.sent += [row.event_id for row in taken]
        return [
            PublishResult(n, row.event_type, row.event_id, (Delivery("topic:orders", f"m-{n}"),))
            for n, row in enumerate(taken)
        ]


async def test_a_batch_outlasting_the_lease_keeps_it_and_no_row_is_sent_twice(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    app = create_engine(url)
    metadata.create_all(app)
    outbox = Outbox.load(Settings.from_env({}, topology_path=ROOT / "topology.yaml"))
    with Session(app) as session, session.begin():
        for n in range(5):
            outbox.add(
                session,
                OrderPlaced(order_id=f"o-{n}", customer_id="c", total_cents=n, country="DE"),
            )
    app.dispose()
    first, second = Slow(4 * LEASE), Slow(0)
    options = RelayOptions(lease=LEASE)
    one = Relay(open_engine(url), cast(Any, first), options)
    other = Relay(open_engine(url), cast(Any, second), options)
    try:
        out = asyncio.create_task(one.run_once())
        await asyncio.sleep(2 * LEASE)  # the first relay's lease would have run out by now
        meanwhile = await other.run_once()
        done = await out
        after = await other.run_once()
    finally:
        await one.close()
        await other.close()
    assert (done.claimed, done.sent) == (5, 5)
    assert meanwhile.claimed == 0  # before: the second relay took the lease and the same rows
    assert second.sent == []
    assert after.claimed == 0  # nothing left: each row went out once
