"""A handler that blocks the event loop with ``time.sleep``, for the loop watchdog's tests
(``tests/worker/test_watchdog.py``, ``tests/cli/test_worker_watchdog.py``)."""

from __future__ import annotations

import time
from pathlib import Path

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


async def nap(event: Ping) -> None:
    time.sleep(NAP)  # noqa: ASYNC251 - the line the watchdog names


def nap_line() -> int:
    """The line of ``nap``'s ``time.sleep`` call."""
    lines = Path(__file__).read_text().splitlines()
    return next(n for n, text in enumerate(lines, 1) if "time.sleep(NAP)" in text)
