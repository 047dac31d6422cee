"""The middlewares of one queue, in order (the first is the outermost)::

    LogContext            binds the delivery's log fields for everything inside
    the worker's own      Worker(middleware=[...]), then topology.yaml's ``middleware.consume``
    the queue's own       ``handlers.<queue>.middleware``
    Idempotency           when the queue is idempotent: claim, complete or release
    InProcessRetry        a transient error: the inner part again, after the in-process backoff
    store.transaction     when the store has one (``store: sql``): each try's database transaction
    Timeout               when the queue has a ``timeout``: each try is cancelled after it
    (the handler)

So a user's middleware sees every delivery once, whatever the retries inside it, with its log
fields bound, and sees duplicates skipped by the idempotency guard as ``duplicate``.
"""

from __future__ import annotations

from collections.abc import Sequence

from bus.middleware.consume import ConsumeMiddleware
from bus.middleware.idempotency import Idempotency, IdempotencyStore
from bus.middleware.logcontext import LogContext
from bus.middleware.retry import InProcessRetry
from bus.middleware.timeout import Timeout
from bus.worker.scope import QueueScope


def consume_stack(
    scope: QueueScope,
    outer: Sequence[ConsumeMiddleware] = (),
    store: IdempotencyStore | None = None,
) -> list[ConsumeMiddleware]:
    """The middlewares of ``scope``'s queue: bus's own around and inside ``outer`` (the user's,
    worker-wide then the queue's); ``store`` guards the handler when the queue is idempotent."""
    binding, info = scope.binding, scope.info
    stack: list[ConsumeMiddleware] = [LogContext(fifo=info.fifo), *outer]
    if binding.idempotency is not None and store is not None:
        expires = binding.idempotency.expires
        comeback = max(1, min(info.visibility_timeout, int(expires)))
        stack.append(Idempotency(store, expires=expires, redeliver_after=comeback))
    stack.append(InProcessRetry(scope.stats))
    transaction = getattr(store, "transaction", None) if binding.idempotency else None
    if transaction is not None:  # a store whose handlers share its transaction (the SQL inbox)
        stack.append(transaction)
    if binding.timeout is not None:
        stack.append(Timeout())
    return stack
