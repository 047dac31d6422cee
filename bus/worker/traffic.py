"""Steady sample traffic (what ``bus up`` publishes): events from an iterator, at a rate.

The application names its sample events with an import path to a function returning an iterator
of events (the reference application's is ``handlers.traffic:sample_events``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog
from pydantic import BaseModel

from bus.errors import AwsError, EventError, HandlerError
from bus.publish.publisher import EventPublisher
from bus.worker.loader import import_object

Samples = Callable[[], Iterator[BaseModel]]


@dataclass
class TrafficStats:
    published: int = 0
    refused: int = 0
    """Events the publisher refused before sending (invalid, unknown)."""
    failed: int = 0
    """Events AWS did not take."""


def load_samples(path: str, base_dir: Path | None) -> Samples:
    """The sample-event function at ``path`` (``module:function``)."""
    found = import_object(path, base_dir)
    if not callable(found):
        raise HandlerError(f"{path}: not a function returning sample events")
    samples: Samples = found
    return samples


async def publish_steadily(
    publisher: EventPublisher,
    events: Iterator[BaseModel],
    rate: float,
    stop: asyncio.Event,
    stats: TrafficStats,
    log: structlog.typing.FilteringBoundLogger | None = None,
) -> None:
    """Publish ``events`` one by one, ``rate`` per second, until ``stop`` is set."""
    logger = log or structlog.get_logger("bus.traffic")
    loop = asyncio.get_running_loop()
    interval = 1.0 / rate
    next_at = loop.time()
    for event in events:
        if stop.is_set():
            return
        try:
            await publisher.publish(event)
        except EventError as exc:
            stats.refused += 1
            logger.warning("sample event refused", error=str(exc))
        except AwsError as exc:
            stats.failed += 1
            logger.warning("sample event not published", code=exc.code, error=str(exc))
        else:
            stats.published += 1
        next_at = max(next_at + interval, loop.time())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), next_at - loop.time())
