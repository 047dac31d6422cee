"""Counters per queue, read by ``bus up``'s live table and by tests; plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class QueueStats:
    """What happened to the messages of one queue since the worker started."""

    received: int = 0
    processed: int = 0
    """Handled successfully (and queued for deletion)."""
    retried: int = 0
    """Failures answered by a retry: in-process tries and redeliveries."""
    redelivered: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    """Skipped by the idempotency guard (already handled)."""
    released: int = 0
    """Made visible again at once: unhandled (shutdown), or a FIFO group given back at SQS's
    12-hour limit."""
    undeleted: int = 0
    """Finished, but the delete was refused or given up on: delivered again later."""
    in_flight: int = 0


@dataclass
class Stats:
    """``QueueStats`` by logical queue name."""

    queues: dict[str, QueueStats] = field(default_factory=dict)

    def queue(self, name: str) -> QueueStats:
        found = self.queues.get(name)
        if found is None:
            found = self.queues[name] = QueueStats()
        return found

    def total(self) -> QueueStats:
        out = QueueStats()
        for q in self.queues.values():
            for name in vars(out):
                setattr(out, name, getattr(out, name) + getattr(q, name))
        return out
