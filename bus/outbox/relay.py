"""The relay: claim rows, publish them with ``publish_many``, record what became of each.

::

    async with Relay.open(settings, "postgresql+psycopg://app@db/shop") as relay:
        await relay.run(stop)        # until ``stop`` is set; ``drain()`` empties the table once

Each cycle claims up to ``batch_size`` rows (``claim``), publishes them in one
``OutboxPublisher.publish_many`` call, and per row: published everywhere -> ``sent`` (deleted at
once with ``retention=0``); refused (its type is no longer declared, it is too large now) ->
``parked`` with the error at once; failed at AWS -> retried from ``now + backoff(attempts)``, and
parked after ``max_attempts``. A cycle where every row failed at AWS makes the relay itself wait
(doubling, up to 30 s) before it claims again. A row is marked only after AWS
answered: a relay killed in between leaves it pending and the next cycle sends it again (at least
once; the copy has the same event id). Sent rows older than the retention are deleted about once a
minute.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import delete, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bus.aws import AwsClients
from bus.outbox.claim import Claimer, Failure, claimer_for
from bus.outbox.database import Waker, open_engine, open_waker
from bus.outbox.publish import OutboxPublisher, Stored
from bus.outbox.table import SENT, outbox_table, utc_now
from bus.publish import PublishResult, load_registry
from bus.settings import Settings

log = structlog.get_logger("bus.outbox")
t = outbox_table
PURGE_EVERY = 60.0
PURGE_CHUNK = 1000
STALL_MAX = 30.0
"""Longest pause of a relay whose every row failed at AWS (each row keeps its own backoff)."""


@dataclass(frozen=True)
class Backoff:
    """Seconds before a failed row is tried again: doubling from ``initial`` up to ``maximum``."""

    initial: float = 1.0
    maximum: float = 300.0

    def delay(self, attempt: int) -> float:
        return float(min(self.maximum, self.initial * 2.0 ** max(0, attempt - 1)))


@dataclass(frozen=True)
class RelayOptions:
    batch_size: int = 100
    poll_interval: float = 1.0
    """Seconds between looks at the table when nothing wakes the relay sooner."""
    max_attempts: int = 10
    """Sends of a row failing at AWS before it is parked."""
    backoff: Backoff = field(default_factory=Backoff)
    retention: float = 86_400.0
    """Seconds sent rows are kept; 0 deletes them as soon as they are sent."""
    lease: float = 30.0
    """Seconds a relay holds the lease where rows cannot be locked one by one (SQLite)."""
    listen: bool = True
    """Wake on PostgreSQL ``NOTIFY`` where the driver can (psycopg)."""


@dataclass
class Cycle:
    """What one cycle did (``Relay.drain`` adds them up)."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    parked: int = 0

    def __iadd__(self, other: Cycle) -> Cycle:
        self.claimed += other.claimed
        self.sent += other.sent
        self.retried += other.retried
        self.parked += other.parked
        return self

    @property
    def stalled(self) -> bool:
        """Rows were claimed and none went out: AWS is failing."""
        return self.claimed > 0 and self.sent == 0 and self.parked == 0


class Relay:
    """Publishes the outbox table's rows; any number may run (see ``claim``)."""

    def __init__(
        self, engine: AsyncEngine, publisher: OutboxPublisher, options: RelayOptions | None = None
    ) -> None:
        self.engine = engine
        self.publisher = publisher
        self.options = options or RelayOptions()
        self.claimer: Claimer = claimer_for(engine, self.options.lease)
        self.totals = Cycle()
        """What this relay did so far (every cycle added up)."""
        self._next_purge = 0.0

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: Settings, url: str | URL, options: RelayOptions | None = None
    ) -> AsyncIterator[Relay]:
        """Load the topology, open AWS clients and the database; yield a ``Relay``."""
        from bus.middleware.load import publish_middlewares

        topology, registry = load_registry(settings.topology_path, settings.env)
        declared = publish_middlewares(topology.middleware.publish, settings.topology_path.parent)
        engine = open_engine(url)
        try:
            async with AwsClients(settings) as aws:
                publisher = OutboxPublisher(
                    aws, registry, topology, settings.env, middleware=declared
                )
                relay = cls(engine, publisher, options)
                try:
                    yield relay
                finally:
                    await relay.close()
        finally:
            await engine.dispose()

    async def close(self) -> None:
        """Give up the lease (if any) and close the database connections."""
        try:
            await self.claimer.release()
        finally:
            await self.engine.dispose()

    async def run_once(self) -> Cycle:
        """Claim one batch, publish it, record each row's fate."""
        async with self.claimer.claim(self.options.batch_size) as batch:
            rows = batch.rows
            if not rows:
                return Cycle()
            results = await self.publisher.publish_many(Stored.of(r) for r in rows)
            cycle, sent, failures = self._judge(rows, results)
            await batch.settle(sent, failures, keep=self.options.retention > 0)
        self.totals += cycle
        log.info("outbox.batch", **cycle.__dict__)
        return cycle

    def _judge(
        self, rows: Any, results: list[PublishResult]
    ) -> tuple[Cycle, list[int], list[Failure]]:
        cycle = Cycle(claimed=len(rows))
        sent: list[int] = []
        failures: list[Failure] = []
        now = utc_now()
        for row, result in zip(rows, results, strict=True):
            attempts = row.attempts + 1
            if result.ok:
                sent.append(row.id)
                continue
            if result.error is not None:
                failures.append(Failure(row.id, attempts, str(result.error), None))
                log.error(
                    "outbox.parked", row=row.id, event_id=row.event_id, error=str(result.error)
                )
                continue
            error = "; ".join(str(d) for d in result.failures)
            if attempts >= self.options.max_attempts:
                failures.append(
                    Failure(row.id, attempts, f"after {attempts} attempts: {error}", None)
                )
                log.error("outbox.parked", row=row.id, event_id=row.event_id, error=error)
            else:
                at = now + timedelta(seconds=self.options.backoff.delay(attempts))
                failures.append(Failure(row.id, attempts, error, at))
                log.warning("outbox.retry", row=row.id, event_id=row.event_id, error=error)
        cycle.sent = len(sent)
        cycle.parked = sum(1 for f in failures if f.available_at is None)
        cycle.retried = len(failures) - cycle.parked
        return cycle, sent, failures

    async def drain(self) -> Cycle:
        """Run cycles until one claims nothing (rows waiting for a retry stay); the totals."""
        total = Cycle()
        while True:
            cycle = await self.run_once()
            total += cycle
            if cycle.claimed == 0 or cycle.stalled:
                return total

    async def purge(self) -> int:
        """Delete sent rows older than the retention (in chunks); how many."""
        cutoff = utc_now() - timedelta(seconds=self.options.retention)
        deleted = 0
        while True:
            async with self.engine.begin() as conn:
                chunk = (
                    select(t.c.id)
                    .where(t.c.state == SENT, t.c.sent_at < cutoff)
                    .limit(PURGE_CHUNK)
                    .scalar_subquery()
                )
                result = await conn.execute(delete(t).where(t.c.id.in_(chunk)))
            deleted += result.rowcount
            if result.rowcount < PURGE_CHUNK:
                return deleted

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Relay until ``stop`` is set: busy while rows come, else wait to be woken or polled."""
        stop = stop or asyncio.Event()
        waker = await open_waker(self.engine, listen=self.options.listen)
        stalls = 0
        try:
            while not stop.is_set():
                cycle = await self._cycle()
                await self._purge_due()
                if cycle is None or cycle.stalled:
                    stalls += 1
                    pause = min(self.options.backoff.delay(stalls), STALL_MAX)
                    await _pause(stop, waker, pause, wake=False)
                    continue
                stalls = 0
                if cycle.claimed < self.options.batch_size:
                    await _pause(stop, waker, self.options.poll_interval, wake=True)
        finally:
            await waker.close()

    async def _cycle(self) -> Cycle | None:
        """One cycle; ``None`` when the database failed (logged; the relay backs off)."""
        try:
            return await self.run_once()
        except Exception as exc:  # the database is down or restarting: try again later
            if not _is_database_error(exc):
                raise
            log.error("outbox.database_error", error=str(exc))
            return None

    async def _purge_due(self) -> None:
        if self.options.retention <= 0 or time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + PURGE_EVERY
        with suppress(Exception):
            deleted = await self.purge()
            if deleted:
                log.info("outbox.purged", rows=deleted)


def _is_database_error(exc: Exception) -> bool:
    return isinstance(exc, DBAPIError | OSError)


async def _pause(stop: asyncio.Event, waker: Waker, seconds: float, *, wake: bool) -> None:
    """Wait ``seconds``, or less when ``stop`` is set (or, with ``wake``, when rows come). A
    waker interrupted by ``stop`` is closed right after (the loop ends)."""
    pause = waker.wait(seconds) if wake else asyncio.sleep(seconds)
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(pause)]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
