"""The benchmark's bus application: its topology, its event model and its no-op handler.

The handler does what every system's handler does in this benchmark: note the message's number
(and, in latency runs, how long ago it was sent). ``SINK`` is set by the runner before the worker
starts; a module-level hook is how a handler imported by path reaches the runner.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from pydantic import BaseModel

from bench.compare.common import Tally

QUEUE = "bench"
EVENT = "BenchOrder"


class Line(BaseModel):
    sku: str
    quantity: int
    unit_price_cents: int


class BenchOrder(BaseModel):
    """The ~1 KiB payload of ``common.payload`` as a typed event."""

    n: int
    sent_at: float
    order_id: str
    customer_id: str
    currency: str
    lines: list[Line]
    note: str


class Sink:
    """Where the handler reports: the tally, and latency samples when ``latencies`` is set."""

    def __init__(self, tally: Tally, latencies: list[float] | None = None) -> None:
        self.tally = tally
        self.latencies = latencies
        self.clock: Callable[[], float] = time.perf_counter
        self.handled_one = asyncio.Event()
        """Set at each message (latency runs wait for it to send the next one)."""

    def handled(self, event: BenchOrder) -> None:
        if self.latencies is not None:
            self.latencies.append((self.clock() - event.sent_at) * 1000)
            self.handled_one.set()
        self.tally.hit(event.n)


SINK: Sink | None = None


async def handle(event: BenchOrder) -> None:
    """The no-op handler: report the message and return."""
    if SINK is not None:
        SINK.handled(event)


def topology_text(concurrency: int) -> str:
    """``topology.yaml`` of the benchmark: one queue (with its derived DLQ), one event, one handler.

    ``concurrency`` is the number of concurrent receives (pollers), as for the bare loop; each
    poller can hold a full batch of ten, so the queue's in-flight limit is ten times that.
    """
    return f"""\
name: bench
queues:
  {QUEUE}:
    visibility_timeout: 60
events:
  {EVENT}:
    model: bench.compare.bus_app:BenchOrder
    publish_to: [{{queue: {QUEUE}}}]
handlers:
  {QUEUE}:
    concurrency: {10 * concurrency}
    pollers: {concurrency}
    events:
      {EVENT}: bench.compare.bus_app:handle
"""
