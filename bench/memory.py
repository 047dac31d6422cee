"""In-memory AWS routing speed, measured in one process and printed with ratios (no assertions).

The reference application's topology (``topology.yaml``) is applied to a ``bus.memory.MemoryAws``;
``Publisher.publish_many`` then sends N ``OrderPlaced`` events, each to the ``orders`` topic (three
SQS subscriptions: an attribute filter that matches, one that does not, a body-scope filter that
does not) and to the ``shop-events`` bus (a rule with a numeric pattern that matches one event in
five, with an SQS target). Reported:

- the in-memory AWS's routing rate: events per second of the time spent inside its PublishBatch
  and PutEvents calls (filters, patterns, envelopes, queue writes); also per second of this
  process's CPU time, which a machine loaded by other processes slows less than wall time. Each
  ``OrderPlaced`` is routed twice (a PublishBatch entry through three subscriptions' filters, a
  PutEvents entry through the bus's rules), so the routed entries per second are reported too:
  the issue's target is 50,000 events/s. The share of that CPU time the garbage collector took
  (collections that fell inside the calls; a full one scans every object of the process, the
  benchmark's 20,000 events included) is reported beside it. The same calls with nothing
  subscribed (checks, ids, parsing the event's detail, no routing) are reported too, per CPU
  second, and the routed calls made again back to back (no Publisher between them, caches warm;
  the best of three replays), which shows what the benchmark's surroundings add;
- the same routed run at five event counts around N (0.8N to 1.2N): median and range, and the full
  collections inside the calls at each. Where Python's full collections fall is set by the
  sequence of allocations (the code and the event count), not by the load, and each one inside
  the calls costs about 15% of the headline, so one count alone can be lucky or unlucky by more
  than a code change moves it;
- ``publish_many`` end to end (the Publisher's validation, envelopes and batching included), and
  the same with every subscription and rule removed, as the baseline in the same run;
- the messages each queue got (a check that routing happened).

    .venv/bin/python -m bench.memory [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bus.memory import MemoryAws
from bus.publish import Publisher
from bus.schema import Registry
from bus.topology.apply import converge
from bus.topology.load import load_topology
from bus.topology.model import Topology
from schemas.orders import OrderLine, OrderPlaced

ROOT = Path(__file__).resolve().parents[1]
ENV = "bench"


def orders(n: int) -> list[OrderPlaced]:
    return [
        OrderPlaced(
            order_id=f"o-{i}",
            customer_id=f"c-{i % 97}",
            lines=[OrderLine(sku="sku-1", quantity=1 + i % 3, unit_price_cents=25_000)],
            total_cents=25_000 * (1 + i % 3) * (2 if i % 5 == 0 else 1),
            country=("DE", "FR", "US")[i % 3],
        )
        for i in range(n)
    ]


class Timed:
    """Wraps an async method and adds up the seconds spent inside it."""

    running = 0
    """Timed calls in progress (``Collections`` counts the collector's runs inside them)."""

    def __init__(self, method: Callable[..., Awaitable[Any]]) -> None:
        self.method = method
        self.seconds = 0.0
        self.cpu = 0.0

    async def __call__(self, **kwargs: Any) -> Any:
        started, cpu = time.perf_counter(), time.process_time()
        Timed.running += 1
        try:
            return await self.method(**kwargs)
        finally:
            Timed.running -= 1
            self.seconds += time.perf_counter() - started
            self.cpu += time.process_time() - cpu


class Collections:
    """The CPU seconds Python's garbage collector ran inside timed calls (a ``gc.callbacks``
    entry): part of the time measured inside them, though it scans the whole process's heap."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.full = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if not Timed.running:
            return
        if phase == "start":
            self._started = time.process_time()
            return
        self.cpu += time.process_time() - self._started
        self.full += info["generation"] == 2


@dataclass
class Run:
    elapsed: float
    inside: float
    inside_cpu: float
    counts: dict[str, int]
    collections: Collections


async def run(topology: Topology, events: list[OrderPlaced], *, routed: bool) -> Run:
    async with MemoryAws() as aws:
        await converge(aws, topology, ENV)
        if not routed:
            for topic in aws.memory_sns.topics.values():
                topic.subscriptions.clear()
            for bus in aws.memory_events.buses.values():
                bus.rules.clear()
        sns, bus = Timed(aws.memory_sns.publish_batch), Timed(aws.memory_events.put_events)
        aws.memory_sns.publish_batch = sns  # type: ignore[method-assign]
        aws.memory_events.put_events = bus  # type: ignore[method-assign]
        publisher = Publisher(aws, Registry.from_topology(topology, ROOT), topology, ENV)
        await publisher.publish_many(events[:100], check=True)  # warm up: routes, imports
        for queue in aws.memory_sqs.queues.values():
            queue.messages.clear()
        sns.seconds = bus.seconds = sns.cpu = bus.cpu = 0.0
        collections = Collections()
        gc.callbacks.append(collections)
        started = time.perf_counter()
        try:
            await publisher.publish_many(events, check=True)
        finally:
            gc.callbacks.remove(collections)
        elapsed = time.perf_counter() - started
        counts = {q.name: len(q.messages) for q in aws.memory_sqs.queues.values() if q.messages}
    return Run(elapsed, sns.seconds + bus.seconds, sns.cpu + bus.cpu, counts, collections)


async def replayed(topology: Topology, events: list[OrderPlaced]) -> float:
    """CPU seconds the routed run's PublishBatch and PutEvents calls take when made again back to
    back on the same in-memory AWS (queues emptied first), without the Publisher's work between
    them: the best of three replays (a separate run, so the measured one holds no recording)."""
    async with MemoryAws() as aws:
        await converge(aws, topology, ENV)
        sns, bus = aws.memory_sns.publish_batch, aws.memory_events.put_events
        calls: list[tuple[Callable[..., Awaitable[Any]], dict[str, Any]]] = []

        async def record_sns(**kwargs: Any) -> Any:
            calls.append((sns, kwargs))
            return await sns(**kwargs)

        async def record_bus(**kwargs: Any) -> Any:
            calls.append((bus, kwargs))
            return await bus(**kwargs)

        aws.memory_sns.publish_batch = record_sns  # type: ignore[method-assign]
        aws.memory_events.put_events = record_bus  # type: ignore[method-assign]
        publisher = Publisher(aws, Registry.from_topology(topology, ROOT), topology, ENV)
        await publisher.publish_many(events, check=True)
        best = float("inf")
        for _ in range(3):
            for queue in aws.memory_sqs.queues.values():
                queue.messages.clear()
            cpu = time.process_time()
            for method, kwargs in calls:
                await method(**kwargs)
            best = min(best, time.process_time() - cpu)
    return best


COUNTS = (0.8, 0.9, 1.0, 1.1, 1.2)
"""The event counts of the spread line, as fractions of N."""


async def main(n: int) -> None:
    topology = load_topology(ROOT / "topology.yaml", env=ENV)
    events = orders(n)
    base = await run(topology, events, routed=False)
    routed = await run(topology, events, routed=True)
    replay = await replayed(topology, events)
    del events  # each count's run holds its own events alone, as the first one did
    spread = [routed if f == 1.0 else await run(topology, orders(round(n * f)), routed=True)
              for f in COUNTS]  # fmt: skip
    rates = sorted(round(n * f) / r.inside for f, r in zip(COUNTS, spread, strict=True))
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    print(f"bench.memory  {now}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load {load:.1f}; {n:,} OrderPlaced events, each to a topic and a bus")  # fmt: skip
    print(f"   in-memory AWS routing (inside its calls)        {n / routed.inside:10,.0f} events/s")
    print(
        f"   the same, per second of this process's CPU      {n / routed.inside_cpu:10,.0f} events/s"
    )
    print(
        f"   routed entries (topic + bus), per CPU second    {2 * n / routed.inside_cpu:10,.0f} "
        "entries/s"
    )
    collected = routed.collections
    print(f"   of its CPU time, garbage collection             {collected.cpu / routed.inside_cpu:10.0%}"
          f"   ({collected.full} full collection{'s' * (collected.full != 1)})")  # fmt: skip
    print(f"   the same at {len(COUNTS)} event counts ({COUNTS[0]:g}-{COUNTS[-1]:g}x), median  "
          f"{statistics.median(rates):10,.0f} events/s   ({rates[0]:,.0f}-{rates[-1]:,.0f}; full "
          f"collections inside: {', '.join(str(r.collections.full) for r in spread)})")  # fmt: skip
    print(f"   the same calls replayed back to back, per CPU s {n / replay:10,.0f} events/s")
    print(
        f"   the same calls, nothing subscribed, per CPU s   {n / base.inside_cpu:10,.0f} events/s"
    )
    print(
        f"   publish_many end to end, routed                 {n / routed.elapsed:10,.0f} events/s"
    )
    print(f"   publish_many end to end, nothing subscribed     {n / base.elapsed:10,.0f} events/s"
          f"   ratio {base.elapsed / routed.elapsed:.2f}x")  # fmt: skip
    for name, count in sorted(routed.counts.items()):
        print(f"   {name:<40} {count:>8,} messages")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().events))
