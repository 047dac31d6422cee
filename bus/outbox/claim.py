"""Claiming rows for a relay, and recording what became of them.

Two ways, chosen by the database:

- ``LockingClaimer`` (PostgreSQL): ``SELECT ... FOR UPDATE SKIP LOCKED`` in a transaction held
  while the rows are published; the outcome is written and committed in that same transaction. Any
  number of relays run side by side, each on rows the others have not locked; a relay that dies
  releases its rows (the server rolls its transaction back) and the next relay sends them again.
- ``LeaseClaimer`` (SQLite and the rest): one relay at a time holds a lease row
  (``bus_outbox_relay``) renewed at every batch, and every third of the lease while a batch is
  out (a publish may outlast it); others wait until it expires. No database lock is
  held while publishing, so the application's own writes are never kept waiting by the relay.

FIFO message groups: a row is claimed only when no earlier row of its group is parked or waiting
for a retry (the claim query), and kept only when every earlier unsent row of its group is in the
same batch (``in_group_order``): a row another relay holds, or one not yet visible, makes the later
rows of its group wait for the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import and_, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bus.outbox.table import PARKED, PENDING, SENT, lease_table, outbox_table, utc_now

t = outbox_table
LEASE = "relay"
log = structlog.get_logger("bus.outbox")


@dataclass(frozen=True)
class Failure:
    """A row that was not published: retried from ``available_at``, or parked (``None``)."""

    row_id: int
    attempts: int
    error: str
    available_at: datetime | None


@dataclass
class Batch:
    """Rows claimed by one relay; ``settle`` records their fate (committed when the batch ends)."""

    connection: AsyncConnection | None
    rows: Sequence[Row[Any]] = field(default_factory=list)

    async def settle(self, sent: Sequence[int], failures: Sequence[Failure], *, keep: bool) -> None:
        """Mark ``sent`` (or delete them when not ``keep``), retry or park ``failures``."""
        conn = self.connection
        if conn is None:
            return
        now = utc_now()
        if sent and keep:
            await conn.execute(
                update(t)
                .where(t.c.id.in_(sent))
                .values(state=SENT, sent_at=now, error=None, attempts=t.c.attempts + 1)
            )
        elif sent:
            await conn.execute(delete(t).where(t.c.id.in_(sent)))
        if failures:
            await conn.execute(
                update(t)
                .where(t.c.id == bindparam("b_id"))
                .values(
                    state=bindparam("b_state"),
                    attempts=bindparam("b_attempts"),
                    error=bindparam("b_error"),
                    available_at=bindparam("b_at"),
                ),
                [
                    {
                        "b_id": f.row_id,
                        "b_state": PARKED if f.available_at is None else PENDING,
                        "b_attempts": f.attempts,
                        "b_error": f.error,
                        "b_at": f.available_at or now,
                    }
                    for f in failures
                ],
            )


class Claimer(Protocol):
    """Claims a batch of rows for one relay."""

    def claim(self, size: int) -> Any:
        """An async context manager yielding a ``Batch`` (committed on a normal exit)."""
        ...

    async def release(self) -> None:
        """Give up whatever this relay holds (its lease)."""
        ...


def claim_query(size: int, now: datetime, *, lock: bool) -> Any:
    """The first ``size`` pending rows due by ``now`` whose group is not held up."""
    earlier = t.alias("earlier")
    blocked = exists().where(
        earlier.c.group_id == t.c.group_id,
        earlier.c.id < t.c.id,
        or_(
            earlier.c.state == PARKED,
            and_(earlier.c.state == PENDING, earlier.c.available_at > now),
        ),
    )
    query = (
        select(
            t.c.id,
            t.c.event_id,
            t.c.event_type,
            t.c.event_version,
            t.c.group_id,
            t.c.body,
            t.c.attributes,
            t.c.created_at,
            t.c.attempts,
        )
        .where(t.c.state == PENDING, t.c.available_at <= now)
        .where(or_(t.c.group_id.is_(None), ~blocked))
        .order_by(t.c.id)
        .limit(size)
    )
    return query.with_for_update(skip_locked=True, of=t) if lock else query


async def in_group_order(conn: AsyncConnection, rows: Sequence[Row[Any]]) -> list[Row[Any]]:
    """``rows`` without those of a FIFO group whose earlier unsent rows are not all in ``rows``."""
    groups = {r.group_id for r in rows if r.group_id is not None}
    if not groups:
        return list(rows)
    mine = {r.id for r in rows}
    answer = await conn.execute(
        select(t.c.group_id, t.c.id)
        .where(t.c.group_id.in_(groups), t.c.state != SENT, t.c.id <= max(mine))
        .order_by(t.c.group_id, t.c.id)
    )
    first_other: dict[str, int] = {}
    for group_id, row_id in answer:
        if group_id not in first_other and row_id not in mine:
            first_other[group_id] = row_id
    return [r for r in rows if r.group_id is None or r.id < first_other.get(r.group_id, r.id + 1)]


class LockingClaimer:
    """PostgreSQL: rows locked one by one (``FOR UPDATE SKIP LOCKED``) while they are published."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def claim(self, size: int) -> AsyncIterator[Batch]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(claim_query(size, utc_now(), lock=True))).all()
            batch = Batch(conn, await in_group_order(conn, rows))
            yield batch
            await conn.commit()

    async def release(self) -> None:
        return None


class LeaseClaimer:
    """One relay at a time: the holder of the ``bus_outbox_relay`` lease (renewed every batch, and
    while a batch is out)."""

    def __init__(self, engine: AsyncEngine, lease: float, owner: str | None = None) -> None:
        self.engine = engine
        self.lease = timedelta(seconds=lease)
        self.owner = owner or uuid.uuid4().hex

    async def hold(self) -> bool:
        """Take or renew the lease; whether this relay holds it now."""
        now = utc_now()
        try:
            async with self.engine.begin() as conn:
                renewed = await conn.execute(
                    update(lease_table)
                    .where(
                        lease_table.c.name == LEASE,
                        or_(lease_table.c.owner == self.owner, lease_table.c.expires_at < now),
                    )
                    .values(owner=self.owner, expires_at=now + self.lease)
                )
                if renewed.rowcount == 1:
                    return True
                taken = await conn.scalar(
                    select(func.count()).select_from(lease_table).where(lease_table.c.name == LEASE)
                )
                if taken:
                    return False
                await conn.execute(
                    insert(lease_table).values(
                        name=LEASE, owner=self.owner, expires_at=now + self.lease
                    )
                )
                return True
        except IntegrityError:  # another relay inserted the lease first
            return False

    @asynccontextmanager
    async def claim(self, size: int) -> AsyncIterator[Batch]:
        if not await self.hold():
            yield Batch(None)
            return
        async with self.engine.connect() as conn:
            rows = (await conn.execute(claim_query(size, utc_now(), lock=False))).all()
            rows = await in_group_order(conn, rows)
            await conn.commit()
            batch = Batch(conn, rows)
            keeping = asyncio.create_task(self._keep()) if rows else None
            try:
                yield batch
                await conn.commit()
            finally:
                if keeping is not None:
                    keeping.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await keeping

    async def _keep(self) -> None:
        """Renew the lease every third of it while a batch is out: its publish may outlast one
        lease (throttling, retries), and another relay must not claim the same rows meanwhile."""
        every = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                held = await self.hold()
            except Exception as exc:  # the database failing: the batch's own settle will say so
                log.warning("outbox.lease_renewal_failed", error=f"{type(exc).__name__}: {exc}")
                continue
            if not held:
                log.error("outbox.lease_lost", owner=self.owner)
                return

    async def release(self) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(lease_table)
                .where(lease_table.c.name == LEASE, lease_table.c.owner == self.owner)
                .values(expires_at=utc_now() - timedelta(seconds=1))
            )


def claimer_for(engine: AsyncEngine, lease: float) -> Claimer:
    """Row locks where the database has ``SKIP LOCKED`` and bus tests it (PostgreSQL), else a lease."""
    if engine.dialect.name == "postgresql":
        return LockingClaimer(engine)
    return LeaseClaimer(engine, lease)
