"""A handler that blocks the event loop with ``time.sleep``, for the loop watchdog's tests
(``tests/worker/test_watchdog.py``, ``tests/cli/test_worker_watchdog.py``,
``tests/otel/test_metrics_loop.py``), and two workers run side by side on one loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bus.worker import Worker
from tests.worker.apps import Ping

NAP = 0.5
"""Seconds each call blocks the loop."""


def topology(name: str) -> str:
    """topology.yaml text: queue ``naps`` whose ``Ping`` handler is ``nap``."""
    return f"""
name: {name}
queues:
  naps: {{visibility_timeout: 30}}
events:
  Ping: {{model: tests.worker.apps:Ping, publish_to: [{{queue: naps}}]}}
handlers:
  naps:
    events: {{Ping: "tests.worker.blocking:nap"}}
"""


def fifo_topology(name: str) -> str:
    """The same with a FIFO queue, ``naps.fifo``, its messages grouped by ``Ping.key``."""
    return f"""
name: {name}
queues:
  naps.fifo: {{fifo: true, visibility_timeout: 30}}
events:
  Ping: {{model: tests.worker.apps:Ping, publish_to: [{{queue: naps.fifo}}], message_group_id: key}}
handlers:
  naps.fifo:
    events: {{Ping: "tests.worker.blocking:nap"}}
"""


def pair_topology(name: str) -> str:
    """Two queues for two workers on one loop: ``pings`` (handler ``wake``, nothing sent to it)
    and ``naps`` (handler ``nap``, where ``Ping`` goes)."""
    return f"""
name: {name}
queues:
  pings: {{visibility_timeout: 30}}
  naps: {{visibility_timeout: 30}}
events:
  Ping: {{model: tests.worker.apps:Ping, publish_to: [{{queue: naps}}]}}
handlers:
  pings:
    events: {{Ping: "tests.worker.blocking:wake"}}
  naps:
    events: {{Ping: "tests.worker.blocking:nap"}}
"""


async def run_together(workers: Sequence[Worker], done: Callable[[], bool]) -> None:
    """Start ``workers`` on the running loop, in order; once ``done()`` (looked at every 0.05 s
    of loop time, 10 s at most), stop them in the same order."""
    for worker in workers:
        await worker.start()
    try:
        for _ in range(200):
            if done():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the workers did not finish in time")
    finally:
        for worker in workers:
            await worker.stop()


async def wake(event: Ping) -> None:
    """A handler that does not block."""


async def nap(event: Ping) -> None:
    time.sleep(NAP)  # noqa: ASYNC251 - the line the watchdog names


def nap_line() -> int:
    """The line of ``nap``'s ``time.sleep`` call."""
    lines = Path(__file__).read_text().splitlines()
    return next(n for n, text in enumerate(lines, 1) if "time.sleep(NAP)" in text)
