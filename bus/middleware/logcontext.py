"""Binds a delivery's log fields in structlog's context variables while the rest runs.

Every logger the handler (or an inner middleware) uses then carries the message id, queue, event
type, attempt and correlation id. On a FIFO queue a lane runs its group's messages in one task: the
rest of the pipeline runs in a copy of the context, so that what a handler binds does not stay for
the next message (on a standard queue each message has its own task, and its own context).
"""

from __future__ import annotations

import asyncio
import contextvars

from structlog.contextvars import bind_contextvars, reset_contextvars

from bus.middleware.consume import CallNext, Incoming


class LogContext:
    """The consume middleware binding ``fields`` (plus the queue) for the rest of the pipeline."""

    def __init__(self, *, fifo: bool) -> None:
        self.fifo = fifo

    async def __call__(self, delivery: Incoming, call_next: CallNext) -> None:
        # reset with their tokens: much cheaper than copying the context as bound_contextvars does
        tokens = bind_contextvars(queue=delivery.queue, **delivery.fields)
        try:
            if self.fifo:
                await asyncio.create_task(
                    _run(call_next, delivery), context=contextvars.copy_context()
                )
            else:
                await call_next(delivery)
        finally:
            reset_contextvars(**tokens)


async def _run(call_next: CallNext, delivery: Incoming) -> None:
    await call_next(delivery)
