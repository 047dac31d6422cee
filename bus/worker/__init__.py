"""The worker runtime: poll, dispatch to handlers, retry, dead-letter, shut down gracefully.

``poller`` receives what there is capacity for, ``dispatcher`` runs one message through decode,
validation and its handler, ``retry`` (pure, in ``bus.retry``) decides what a failure means,
``deadletter`` builds DLQ copies, ``acker`` batches deletes, ``heartbeat`` extends visibility,
``fifo`` keeps message groups in order, ``runtime`` ties it together and shuts it down.
"""

from bus.worker.context import Context
from bus.worker.deadletter import FailureRecord
from bus.worker.idempotency import IdempotencyStore, MemoryStore
from bus.worker.runtime import Worker, WorkerOptions
from bus.worker.stats import QueueStats, Stats

__all__ = [
    "Context",
    "FailureRecord",
    "IdempotencyStore",
    "MemoryStore",
    "QueueStats",
    "Stats",
    "Worker",
    "WorkerOptions",
]
