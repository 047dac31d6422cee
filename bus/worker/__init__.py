"""The worker runtime: poll, run each message through its middlewares and handler, settle it.

``poller`` receives what there is capacity for; ``handling`` runs one message through decode,
validation, the middlewares (``stack`` orders them) and its handler, deciding an ``Outcome``;
``settle`` carries it out (delete, redeliver later, dead-letter, release); ``retry`` (pure, in
``bus.retry``) decides what a failure means; ``deadletter`` builds DLQ copies; ``acker`` batches
deletes; ``heartbeat`` extends visibility; ``fifo`` keeps message groups in order; ``consumer``
owns one queue's parts; ``runtime`` ties the queues together and shuts them down.
"""

from bus.middleware.idempotency import IdempotencyStore, MemoryStore
from bus.worker.context import Context
from bus.worker.deadletter import FailureRecord
from bus.worker.poller import FatalReceiveError
from bus.worker.runtime import Worker, WorkerOptions, WorkerParts
from bus.worker.stats import QueueStats, Stats

__all__ = [
    "Context",
    "FailureRecord",
    "FatalReceiveError",
    "IdempotencyStore",
    "MemoryStore",
    "QueueStats",
    "Stats",
    "Worker",
    "WorkerOptions",
    "WorkerParts",
]
