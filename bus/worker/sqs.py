"""The SQS calls the worker makes on one queue: ``bus.aws.sqs``, the one SQS model bus has (the
DLQ tools use it too). Batch calls answer per entry, by receipt handle."""

from __future__ import annotations

from bus.aws.sqs import BATCH, EntryFailure, QueueOps, call_failure, chunks
from bus.aws.sqs import WORKER_SYSTEM_ATTRIBUTES as SYSTEM_ATTRIBUTES

__all__ = ["BATCH", "SYSTEM_ATTRIBUTES", "EntryFailure", "QueueOps", "call_failure", "chunks"]
