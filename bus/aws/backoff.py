"""One backoff function and one retry-config shape, for every wait bus makes between tries.

``backoff(shape, attempt, draw)`` is ``initial * multiplier ** (attempt - 1)``, capped at
``maximum`` and, when ``jitter`` is on, "equal jitter": between half and all of that value (a given
draw keeps the sequence monotonic). Any object with those four fields is a shape: the topology's
``Backoff`` (the handler retry policy as declared in YAML) and ``RetryConfig`` below (attempts plus
the same four fields: publishing retries, DLQ sends, the worker's outage pauses).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Protocol


class BackoffShape(Protocol):
    """What ``backoff`` reads: seconds before the first retry, growth, cap and jitter."""

    @property
    def initial(self) -> float: ...

    @property
    def multiplier(self) -> float: ...

    @property
    def maximum(self) -> float: ...

    @property
    def jitter(self) -> bool: ...


def backoff(shape: BackoffShape, attempt: int, draw: float | None = 1.0) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    ``draw`` in [0, 1] picks the jitter (``None``: at random); without jitter it is ignored."""
    exponent = max(attempt, 1) - 1
    try:
        raw = shape.initial * shape.multiplier**exponent
    except OverflowError:
        raw = math.inf
    delay = min(raw, shape.maximum)
    if shape.jitter:
        pick = random.random() if draw is None else min(max(draw, 0.0), 1.0)
        delay *= 0.5 + 0.5 * pick
    return max(0.0, delay)


@dataclass(frozen=True)
class RetryConfig:
    """How often a failed call (or failed entries) is tried again, and how long bus waits between.

    ``attempts`` counts every call, the first included (1: never again)."""

    attempts: int = 5
    initial: float = 0.2
    multiplier: float = 2.0
    maximum: float = 5.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(
                f"RetryConfig.attempts must be at least 1 (one call), got {self.attempts}"
            )
        if self.initial < 0 or self.maximum < 0 or self.multiplier < 1:
            raise ValueError(
                "RetryConfig needs initial >= 0, maximum >= 0 and multiplier >= 1, got "
                f"initial={self.initial}, maximum={self.maximum}, multiplier={self.multiplier}"
            )

    def delay(self, retry: int, draw: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first)."""
        return backoff(self, retry, draw)
