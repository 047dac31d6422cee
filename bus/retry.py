"""What to do with a message whose handler failed: a pure decision, tested without a network.

::

    decide(policy, Attempt(receive_count, try_number), max_receive_count, error)
        -> RetryNow(delay)     call the handler again in this process (transient errors only)
         | Redeliver(delay)    make the message visible again after ``delay`` seconds
         | DeadLetterNow(reason)  send it to the DLQ now (then delete it from its queue)

Delays grow exponentially with the attempt (``Backoff``), are capped and, when the backoff says so,
jittered (``bus.aws.backoff``: "equal jitter": between half and all of the exponential value, so a given jitter draw keeps
the sequence monotonic). A redelivery delay is a visibility timeout, in whole seconds: it is rounded
up, so a short backoff is never turned into "visible again at once". On the last receive a queue allows (``receive_count >=
max_receive_count``) the answer is never ``Redeliver``: the worker dead-letters the message itself,
so that its DLQ copy records why it died.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Literal

from bus.aws.backoff import backoff
from bus.control import MAX_DELAY, Control, Reject, Retry
from bus.topology.model import Backoff, RetryPolicy

DeadLetterReason = Literal["rejected", "handler-error"]

__all__ = [
    "Attempt",
    "DeadLetterNow",
    "Decision",
    "Policy",
    "Redeliver",
    "RetryNow",
    "backoff",
    "decide",
    "is_last_receive",
    "redelivery_seconds",
]
REJECTED: DeadLetterReason = "rejected"
HANDLER_ERROR: DeadLetterReason = "handler-error"


@dataclass(frozen=True)
class Attempt:
    """Which attempt failed: the delivery (1 = first; SQS's receive count, plus the in-process
    redeliveries of a FIFO message) and the in-process try."""

    receive_count: int
    try_number: int = 1


@dataclass(frozen=True)
class RetryNow:
    delay: float


@dataclass(frozen=True)
class Redeliver:
    delay: int


@dataclass(frozen=True)
class DeadLetterNow:
    reason: DeadLetterReason


Decision = RetryNow | Redeliver | DeadLetterNow


@dataclass(frozen=True)
class Policy:
    """A handler binding's ``RetryPolicy`` with its transient exception classes resolved."""

    attempts: int = 3
    transient: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError)
    in_process: Backoff = field(default_factory=lambda: Backoff(initial=0.1, maximum=2.0))
    redelivery: Backoff = field(default_factory=Backoff)

    @classmethod
    def from_model(cls, model: RetryPolicy, transient: tuple[type[BaseException], ...]) -> Policy:
        return cls(
            attempts=model.attempts,
            transient=transient,
            in_process=model.in_process,
            redelivery=model.redelivery,
        )

    def is_transient(self, error: BaseException) -> bool:
        return not isinstance(error, Control) and isinstance(error, self.transient)


def redelivery_seconds(seconds: float) -> int:
    """A backoff as a visibility timeout: whole seconds, rounded *up* (a backoff of 0.4 s is
    1 s, never 0, which would make the message visible again at once), at most 12 hours."""
    return min(MAX_DELAY, math.ceil(seconds))


def is_last_receive(attempt: Attempt, max_receive_count: int | None) -> bool:
    return max_receive_count is not None and attempt.receive_count >= max_receive_count


def decide(
    policy: Policy,
    attempt: Attempt,
    max_receive_count: int | None,
    error: BaseException,
    jitter: float | None = None,
) -> Decision:
    """The fate of a message whose handler raised ``error`` (``max_receive_count``: None = no DLQ).

    ``jitter`` (in [0, 1]) makes the decision reproducible; by default it is drawn at random.
    """
    draw = random.random() if jitter is None else jitter
    if isinstance(error, Reject):
        return DeadLetterNow(REJECTED)
    if policy.is_transient(error) and attempt.try_number < policy.attempts:
        return RetryNow(backoff(policy.in_process, attempt.try_number, draw))
    if is_last_receive(attempt, max_receive_count):
        return DeadLetterNow(HANDLER_ERROR)
    if isinstance(error, Retry) and error.delay is not None:
        return Redeliver(redelivery_seconds(error.delay))
    seconds = backoff(policy.redelivery, attempt.receive_count, draw)
    return Redeliver(redelivery_seconds(seconds))
