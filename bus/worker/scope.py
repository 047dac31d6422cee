"""What every part of one queue's consumer shares: the queue, its binding, counters, logger, stop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import structlog

from bus.worker.loader import QueueBinding
from bus.worker.queues import QueueInfo
from bus.worker.stats import QueueStats

Log = structlog.typing.FilteringBoundLogger


@dataclass(frozen=True)
class QueueScope:
    """One consumed queue: its SQS facts, its handlers, its counters, its logger and its stop."""

    info: QueueInfo
    binding: QueueBinding
    stats: QueueStats
    log: Log
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
