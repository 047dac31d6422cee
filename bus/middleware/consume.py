"""The consume pipeline's seam: an ``Incoming`` delivery passed through an onion of middlewares.

::

    async def count(delivery: Incoming, call_next: CallNext) -> None:
        await call_next(delivery)            # the rest of the pipeline: the handler at its heart
        metrics[delivery.outcome.kind] += 1  # handled | duplicate | retry-now | redeliver | dead-letter

A middleware is any ``async (delivery, call_next) -> None``. It runs once per delivery of a
message; code before ``await call_next(delivery)`` runs before the handler, code after it sees the
``outcome``. It may set ``delivery.outcome`` itself instead of calling ``call_next`` (the handler
then does not run), or call ``delivery.fail(error)``, which decides as the queue's retry policy
says. bus settles the outcome (delete, redeliver later, dead-letter) once the outermost middleware
has returned.

An exception raised by a middleware (or escaping ``call_next``) is treated like an error of the
handler: the retry policy decides, the message is redelivered later or dead-lettered with
``reason: handler-error``, never deleted unhandled. A middleware that returns without an outcome
leaves the message to be redelivered later, too.

Undecodable or invalid bodies go through the chain as well, with ``envelope`` or ``event`` left
``None`` and the outcome already set (``dead-letter``, reason ``decode-error`` ...): the handler
does not run, but metrics see them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import structlog
from pydantic import BaseModel

if TYPE_CHECKING:
    from bus.envelope import Envelope
    from bus.worker.context import Context
    from bus.worker.message import Received

OutcomeKind = Literal["handled", "duplicate", "retry-now", "redeliver", "dead-letter"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one delivery, and why.

    ``handled``: the handler succeeded (deleted); ``duplicate``: already handled, skipped
    (deleted); ``retry-now``: a transient error, the handler is called again in this process;
    ``redeliver``: visible again after ``delay`` seconds; ``dead-letter``: to the DLQ now.
    ``reason`` says why for the last three (``handler-error``, ``timeout``, ``rejected``,
    ``in-progress``, ``decode-error``, ``validation-error``, ``unknown-event``, ``no-handler``);
    ``error`` is the exception behind it, if any.
    """

    kind: OutcomeKind
    reason: str | None = None
    delay: float = 0.0
    error: BaseException | None = None

    @property
    def deletes(self) -> bool:
        """Whether the message is deleted from its queue (handled or skipped as a duplicate)."""
        return self.kind == "handled" or self.kind == "duplicate"


HANDLED = Outcome("handled")
DUPLICATE = Outcome("duplicate", reason="already-handled")

Judge = Callable[["Incoming", BaseException], Outcome]


class Incoming:
    """One delivery of one message to its queue's handler, as the middlewares see it."""

    __slots__ = (
        "_judge",
        "_on_settled",
        "attempt",
        "context",
        "envelope",
        "event",
        "fields",
        "handler",
        "log",
        "message",
        "outcome",
        "queue",
        "timeout",
    )

    def __init__(
        self,
        message: Received,
        queue: str,
        attempt: int,
        log: structlog.typing.FilteringBoundLogger,
        judge: Judge,
        fields: dict[str, Any] | None = None,
    ) -> None:
        self.message = message
        """The SQS message (id, body, attributes, receipt handle, receive count)."""
        self.queue = queue
        """The queue's logical name."""
        self.attempt = attempt
        """The delivery attempt (1 on the first delivery; see ``Context.attempt``)."""
        self.log = log
        """A logger bound with the delivery's fields (message id, event type, attempt, ...)."""
        self.fields: dict[str, Any] = fields or {}
        """Those fields: ``message_id``, ``attempt``, ``event_type``, ``correlation_id``, ..."""
        self.envelope: Envelope | None = None
        """The decoded envelope; None when the body did not decode."""
        self.event: BaseModel | None = None
        """The validated (and upcast) event; None when it could not be."""
        self.context: Context | None = None
        """The handler's context (None without an event)."""
        self.handler: object | None = None
        """The handler function bound to the event type."""
        self.timeout: float | None = None
        """The handler's time limit per try, in seconds (``timeout:`` of the handler section)."""
        self.outcome: Outcome | None = None
        """Set by the handler step (or a middleware); read it after ``call_next``."""
        self._judge = judge
        self._on_settled: list[Callable[[Outcome, str], None]] | None = None

    def when_settled(self, finish: Callable[[Outcome, str], None]) -> None:
        """Call ``finish(outcome, fate)`` once bus has carried the outcome out (``fate``:
        ``handled``, ``failed``, ``held``, ``released`` or ``error``): a tracing span ends there."""
        if self._on_settled is None:
            self._on_settled = []
        self._on_settled.append(finish)

    def settled(self, outcome: Outcome, fate: str) -> None:
        """Told by the worker once the outcome is carried out (see ``when_settled``)."""
        hooks, self._on_settled = self._on_settled, None  # a hook holding the delivery: no cycle
        for finish in hooks or ():
            try:
                finish(outcome, fate)
            except Exception:
                self.log.exception("a settle hook failed")

    def fail(self, error: BaseException) -> Outcome:
        """Set (and return) the outcome the queue's retry policy gives ``error``: retry now,
        redeliver later or dead-letter, as if the handler had raised it."""
        self.outcome = self._judge(self, error)
        return self.outcome


CallNext = Callable[[Incoming], Awaitable[None]]
"""The rest of the pipeline, down to the handler."""


class ConsumeMiddleware(Protocol):
    """Wraps each delivery: ``await call_next(delivery)`` runs the rest of the pipeline."""

    async def __call__(self, delivery: Incoming, call_next: CallNext) -> None: ...


def chain(middlewares: Sequence[ConsumeMiddleware], handler: CallNext) -> CallNext:
    """One callable running ``middlewares`` in order (the first is the outermost) around
    ``handler``; built once per queue, not per message."""
    call = handler
    for middleware in reversed(middlewares):
        call = _layer(middleware, call)
    return call


class _Layer:
    """One middleware with the rest of the chain bound: calling it returns the middleware's own
    coroutine (no coroutine of its own around it: a layer costs one call, not two)."""

    __slots__ = ("_call_next", "_middleware")

    def __init__(self, middleware: ConsumeMiddleware, call_next: CallNext) -> None:
        self._middleware = middleware
        self._call_next = call_next

    def __call__(self, delivery: Incoming) -> Awaitable[None]:
        return self._middleware(delivery, self._call_next)


def _layer(middleware: ConsumeMiddleware, call_next: CallNext) -> CallNext:
    return _Layer(middleware, call_next)
