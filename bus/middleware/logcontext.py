"""Binds a delivery's log fields in structlog's context variables while the rest runs.

Every logger the handler (or an inner middleware) uses then carries the message id, queue, event
type, attempt and correlation id. On a FIFO queue a lane runs its group's messages in one task: the
rest of the pipeline runs in a task of its own, in a copy of the context, so that what a handler
binds does not stay for the next message (on a standard queue each message has its own task, and
its own context); that task is named after the message, as a standard queue's is
(``bus.worker.message.handling``: the loop watchdog names the message whose handler blocks).

The variables are structlog's own (``structlog.contextvars``: ``merge_contextvars`` reads them), set
and reset directly: looking them up by name for every message, as ``bind_contextvars`` does, cost
more than the rest of this middleware.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from structlog.contextvars import STRUCTLOG_KEY_PREFIX, bind_contextvars, reset_contextvars

from bus.middleware.consume import CallNext, Incoming
from bus.worker.message import handling

_Var = contextvars.ContextVar[Any]
_VARS: dict[str, _Var] = {}


def _var(name: str) -> _Var:
    """structlog's context variable for ``name`` (made, and registered with structlog, once)."""
    var = _VARS.get(name)
    if var is None:
        key, mark = f"{STRUCTLOG_KEY_PREFIX}{name}", object()
        tokens = bind_contextvars(**{name: mark})  # structlog makes (and keeps) it
        context = contextvars.copy_context()
        var = next(v for v in context if v.name == key and context[v] is mark)
        reset_contextvars(**tokens)
        _VARS[name] = var
    return var


class LogContext:
    """The consume middleware binding ``fields`` (plus the queue) for the rest of the pipeline."""

    def __init__(self, *, fifo: bool) -> None:
        self.fifo = fifo

    async def __call__(self, delivery: Incoming, call_next: CallNext) -> None:
        queue = _VARS.get("queue") or _var("queue")
        tokens = [(queue, queue.set(delivery.queue))]
        for name, value in delivery.fields.items():
            var = _VARS.get(name) or _var(name)
            tokens.append((var, var.set(value)))
        try:
            if self.fifo:  # a task of its own, named for the loop watchdog
                await asyncio.get_running_loop().create_task(
                    _run(call_next, delivery),
                    name=handling(delivery.message.message_id),
                    context=contextvars.copy_context(),
                )
            else:
                await call_next(delivery)
        finally:
            for var, token in reversed(tokens):
                var.reset(token)


async def _run(call_next: CallNext, delivery: Incoming) -> None:
    await call_next(delivery)
