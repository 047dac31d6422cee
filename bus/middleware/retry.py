"""In-process retries: a ``retry-now`` outcome (a transient error) calls the rest again.

The queue's retry policy decides (``bus.retry.decide``): a transient error on a try before the
last gets ``retry-now`` with the policy's in-process backoff; this middleware waits it out and runs
the inner pipeline (timeout and handler) again with ``ctx.try_number`` one higher, until the
outcome is anything else (handled, redeliver later, dead-letter).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bus.middleware.consume import CallNext, Incoming

if TYPE_CHECKING:
    from bus.worker.stats import QueueStats


class InProcessRetry:
    """The consume middleware trying a transient failure again in this process."""

    def __init__(self, stats: QueueStats) -> None:
        self._stats = stats

    async def __call__(self, delivery: Incoming, call_next: CallNext) -> None:
        await call_next(delivery)
        ctx = delivery.context
        while ctx is not None and delivery.outcome is not None:
            outcome = delivery.outcome
            if outcome.kind != "retry-now":
                return
            self._stats.retried += 1
            from bus.worker.deadletter import error_text, error_type_name  # no import cycle

            delivery.log.warning(
                "transient error; trying again",
                try_number=ctx.try_number,
                delay=round(outcome.delay, 3),
                error_type=error_type_name(outcome.error) if outcome.error else None,
                error=error_text(outcome.error) if outcome.error else None,
            )
            await asyncio.sleep(outcome.delay)
            ctx.try_number += 1
            delivery.outcome = None
            await call_next(delivery)
