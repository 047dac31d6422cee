"""Handler control flow: what a handler raises to steer its message, distinct from errors.

``Retry`` asks for the message again later (after ``delay`` seconds, or after the queue's
redelivery backoff when no delay is given). ``Reject`` sends it to the dead-letter queue at once,
with ``reason`` recorded in its ``bus.failure`` attribute. Neither is a ``BusError``: they are not
failures of bus, they are decisions of the handler.
"""

from __future__ import annotations

MAX_DELAY = 43_200
"""SQS's longest visibility timeout (12 hours): the furthest a redelivery can be pushed."""


class Control(Exception):
    """Root of the handler control-flow signals."""


class Retry(Control):
    """Handle this message again later: after ``delay`` seconds, or the policy's backoff."""

    def __init__(self, delay: float | None = None, reason: str = "") -> None:
        if delay is not None and not 0 <= delay <= MAX_DELAY:
            raise ValueError(f"Retry(delay=...) must be between 0 and {MAX_DELAY} seconds")
        self.delay = delay
        self.reason = reason
        super().__init__(reason or (f"retry in {delay:g}s" if delay is not None else "retry"))


class Reject(Control):
    """Give up on this message now: straight to the dead-letter queue with ``reason``."""

    def __init__(self, reason: str) -> None:
        if not reason:
            raise ValueError("Reject(reason=...) needs a reason: it is what the DLQ records")
        self.reason = reason
        super().__init__(reason)
