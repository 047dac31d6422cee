"""Outbox benchmarks, measured in one run and printed as ratios (no assertions).

1. Relay throughput: ``N`` committed outbox rows published to an SNS topic by one relay
   (``Relay.drain``: claim, ``publish_many``, mark sent) against ``publish_many`` of the same
   ``N`` events directly (the runs interleaved, best of 2 each), for relay batch sizes 100 (the
   default) and 500, on SQLite and on PostgreSQL (when its server binaries are installed: a
   throwaway server is started, as the tests do). Target: >= 0.8x.
2. Commit-to-published latency: events committed one at a time while a relay runs; the time from
   each commit to the relay marking the row sent (after SNS answered), p50 and p90. PostgreSQL
   wakes the relay by ``LISTEN``/``NOTIFY``; SQLite is polled (every 0.1 s here). Beside it, the
   floor: ``publish`` of one event, one at a time.
3. Three relays in parallel over 5,000 events committed while they run (batches of 100): the
   time until every row is sent, and the copies published (rows marked sent more than once,
   summed over the relays' own counts: 0 expected, copies come only from a crash).

    .venv/bin/python -m bench.outbox [--events N] [--batch-size B ...]

Starts its own LocalStack (bus.emulator) unless AWS_ENDPOINT_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from bench.emulated import aws_settings
from bus.aws import AwsClients
from bus.logging import configure_logging
from bus.outbox import Outbox, OutboxPublisher, Relay, RelayOptions, metadata, outbox_table
from bus.outbox.table import utc_now
from bus.publish import Publisher
from bus.schema import EventSpec, Registry
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.model import Destination, Topology
from schemas.orders import OrderLine, OrderPlaced
from tests import pg


class TopicOrder(OrderPlaced):
    """OrderPlaced, routed to the benchmark topic."""


def _world() -> tuple[Topology, Registry]:
    topology = Topology.model_validate({"name": "bench", "topics": {"orders": {}}})
    spec = EventSpec(
        "TopicOrder",
        2,
        TopicOrder,
        "bench",
        destinations=(Destination(topic="orders"),),
        attributes=("country", "currency", "total_cents"),
    )
    return topology, Registry([spec])


def _event(n: int) -> TopicOrder:
    lines = [OrderLine(sku=f"sku-{i}", quantity=i + 1, unit_price_cents=999) for i in range(8)]
    return TopicOrder(
        order_id=f"o-{n}", customer_id="c-1", lines=lines, total_cents=n, country="DE"
    )


@contextmanager
def databases() -> Iterator[list[tuple[str, str]]]:
    """(name, URL) of each database measured: a SQLite file, and PostgreSQL when installed."""
    with tempfile.TemporaryDirectory(prefix="bus-bench-") as directory:
        found = [("sqlite", f"sqlite:///{directory}/app.db")]
        bindir = pg.find_bindir()
        if bindir is None:
            print(f"   (PostgreSQL skipped: {pg.INSTALL_HINT})")
            yield found
            return
        server = pg.start(bindir)
        try:
            yield [*found, ("postgresql", server.url())]
        finally:
            pg.stop(server)


def _fresh(url: str) -> None:
    engine = create_engine(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    engine.dispose()


def _fill(url: str, outbox: Outbox, count: int) -> None:
    engine = create_engine(url)
    for start in range(0, count, 500):
        with Session(engine) as session, session.begin():
            for n in range(start, min(count, start + 500)):
                outbox.add(session, _event(n))
    engine.dispose()


@asynccontextmanager
async def _relay(
    aws: AwsClients, topology: Topology, registry: Registry, env: str, url: str, **options: object
) -> AsyncIterator[Relay]:
    from bus.outbox.database import open_engine

    publisher = OutboxPublisher(aws, registry, topology, env)
    relay = Relay(open_engine(url), publisher, RelayOptions(**options))  # type: ignore[arg-type]
    try:
        yield relay
    finally:
        await relay.close()


async def _direct(publisher: Publisher, events: list[TopicOrder]) -> float:
    started = time.perf_counter()
    await publisher.publish_many(events, check=True)
    return len(events) / (time.perf_counter() - started)


async def _relayed(
    aws: AwsClients, topology: Topology, registry: Registry, env: str, url: str, count: int,
    batch_size: int,
) -> float:  # fmt: skip
    _fresh(url)
    _fill(url, Outbox(registry, topology), count)
    async with _relay(aws, topology, registry, env, url, batch_size=batch_size) as relay:
        started = time.perf_counter()
        total = await relay.drain()
        elapsed = time.perf_counter() - started
    assert total.sent == count, total
    return count / elapsed


async def throughput(
    aws: AwsClients, topology: Topology, registry: Registry, env: str, dbs: list[tuple[str, str]],
    count: int, batch_sizes: list[int],
) -> None:  # fmt: skip
    print(f"1. relay throughput: {count} events (~1 KiB) to an SNS topic, best of 2 (interleaved)")
    publisher = Publisher(aws, registry, topology, env)
    events = [_event(n) for n in range(count)]
    await publisher.publish_many(events[:50], check=True)  # warm up: topic ARN, connections
    direct = 0.0
    best: dict[tuple[str, int], float] = {}
    for _ in range(2):
        direct = max(direct, await _direct(publisher, events))
        for name, url in dbs:
            for size in batch_sizes:
                rate = await _relayed(aws, topology, registry, env, url, count, size)
                best[name, size] = max(best.get((name, size), 0.0), rate)
    print(f"   publish_many directly                 {direct:8.0f} events/s")
    for (name, size), rate in best.items():
        print(
            f"   relay, {name:10} batch {size:<5}     {rate:8.0f} events/s  "
            f"({rate / direct:.2f}x publish_many)"
        )


def _commit(engine: Engine, outbox: Outbox, n: int) -> tuple[str, datetime]:
    """Commit one event (in a thread, as the application's own would); its id and commit time."""
    with Session(engine) as session, session.begin():
        event_id = outbox.add(session, _event(n))
    return event_id, utc_now()


def _published(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        query = select(outbox_table.c.event_id, outbox_table.c.sent_at)
        return list(conn.execute(query.where(outbox_table.c.state == "sent")).all())


async def _waits(relay: Relay, engine: Engine, outbox: Outbox, count: int) -> list[float]:
    """Milliseconds from each commit to its row marked sent, sorted."""
    committed: dict[str, datetime] = {}
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    await asyncio.sleep(1.0)
    for n in range(count):
        event_id, at = await asyncio.to_thread(_commit, engine, outbox, n)
        committed[event_id] = at
        await asyncio.sleep(0.02)
    deadline = time.monotonic() + 30
    sent: list[Any] = []
    for _ in range(3000):
        sent = await asyncio.to_thread(_published, engine)
        if len(sent) == count or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    stop.set()
    await running
    return sorted((at - committed[i]) / timedelta(milliseconds=1) for i, at in sent)


async def latency(
    aws: AwsClients, topology: Topology, registry: Registry, env: str, dbs: list[tuple[str, str]],
    count: int,
) -> None:  # fmt: skip
    print(f"2. commit-to-published latency: {count} events committed one at a time, 20 ms apart")
    publisher = Publisher(aws, registry, topology, env)
    calls = []
    for n in range(count):
        started = time.perf_counter()
        await publisher.publish(_event(n))
        calls.append((time.perf_counter() - started) * 1000)
    print(f"   publish() of one event (the floor)       p50 {statistics.median(calls):6.1f} ms")
    outbox = Outbox(registry, topology)
    for name, url in dbs:
        _fresh(url)
        engine = create_engine(url)
        async with _relay(aws, topology, registry, env, url, poll_interval=0.1) as relay:
            waits = await _waits(relay, engine, outbox, count)
        engine.dispose()
        p50 = statistics.median(waits)
        p90 = waits[int(len(waits) * 0.9) - 1]
        how = "LISTEN/NOTIFY" if name == "postgresql" else "polling every 0.1 s"
        print(f"   {name:10} ({how:20})  p50 {p50:6.1f} ms   p90 {p90:6.1f} ms")


async def parallel(
    aws: AwsClients, topology: Topology, registry: Registry, env: str, dbs: list[tuple[str, str]],
    count: int,
) -> None:  # fmt: skip
    print(f"3. three relays in parallel: {count} events committed while they run")
    outbox = Outbox(registry, topology)
    for name, url in dbs:
        _fresh(url)
        async with contextlib.AsyncExitStack() as stack:
            relays = [
                await stack.enter_async_context(
                    _relay(aws, topology, registry, env, url, batch_size=100, poll_interval=0.05)
                )
                for _ in range(3)
            ]
            stop = asyncio.Event()
            running = [asyncio.create_task(r.run(stop)) for r in relays]
            started = time.perf_counter()
            await asyncio.to_thread(_fill, url, outbox, count)
            while sum(r.totals.sent for r in relays) < count:
                if time.perf_counter() - started > 300:
                    break
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            stop.set()
            await asyncio.gather(*running)
        sent = [r.totals.sent for r in relays]
        print(
            f"   {name:10} {elapsed:6.1f} s  {count / elapsed:6.0f} events/s   "
            f"per relay {sent}   copies {sum(sent) - count}"
        )


async def run(settings: Settings, count: int, batch_sizes: list[int]) -> None:
    topology, registry = _world()
    env = "b" + uuid.uuid4().hex[:8]
    async with AwsClients(settings) as aws:
        await converge(aws, topology, env)
        with databases() as dbs:
            await throughput(aws, topology, registry, env, dbs, count, batch_sizes)
            await latency(aws, topology, registry, env, dbs, 100)
            await parallel(aws, topology, registry, env, dbs, 5_000)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=3_000)
    parser.add_argument(
        "--batch-size", type=int, action="append", help="repeatable [default: 100 and 500]"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    configure_logging("ERROR")
    with aws_settings() as (settings, _):
        asyncio.run(run(settings, args.events, args.batch_size or [100, 500]))


if __name__ == "__main__":
    main()
