"""Middleware: the seams around consuming and publishing.

A consume middleware is ``async (delivery: Incoming, call_next) -> None`` around one delivery,
from its decoded body to its outcome (``consume``); a publish middleware wraps each event and each
batch call (``publish``). Both are declared in topology.yaml (``middleware: {consume: [...],
publish: [...]}``, and ``handlers.<queue>.middleware``) or given in Python
(``Worker(..., middleware=[...])``, ``Publisher(..., middleware=[...])``). bus's own features
around a handler are middlewares too: ``LogContext``, ``Idempotency``, ``InProcessRetry``,
``Timeout``.
"""

from bus.middleware.consume import CallNext, ConsumeMiddleware, Incoming, Outcome, OutcomeKind
from bus.middleware.idempotency import Claim, Idempotency, IdempotencyStore, MemoryStore
from bus.middleware.logcontext import LogContext
from bus.middleware.publish import (
    NextBatch,
    NextEvent,
    Outgoing,
    OutgoingBatch,
    PublishMiddleware,
)
from bus.middleware.retry import InProcessRetry
from bus.middleware.timeout import HandlerTimeout, Timeout

__all__ = [
    "CallNext",
    "Claim",
    "ConsumeMiddleware",
    "HandlerTimeout",
    "Idempotency",
    "IdempotencyStore",
    "InProcessRetry",
    "Incoming",
    "LogContext",
    "MemoryStore",
    "NextBatch",
    "NextEvent",
    "Outcome",
    "OutcomeKind",
    "Outgoing",
    "OutgoingBatch",
    "PublishMiddleware",
    "Timeout",
]
