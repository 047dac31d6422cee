"""Pure arithmetic of the comparison: medians with their spread, percentiles, ratios, targets."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """The median of repeated measurements, with the smallest and the largest."""

    median: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        if not samples:
            raise ValueError("no samples to summarise")
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    below, above = math.floor(rank), math.ceil(rank)
    return ordered[below] + (ordered[above] - ordered[below]) * (rank - below)


def ratio(value: float, base: float) -> float | None:
    """``value / base``; ``None`` when the base is missing or zero."""
    if base == 0 or math.isnan(base):
        return None
    return value / base


@dataclass(frozen=True)
class Target:
    """A goal read from a ratio: ``numerator / denominator >= at_least`` (with ``at_most``:
    ``<= at_least``, the bound then being a ceiling). ``unit`` is ``x`` for a ratio, or the unit of
    a figure that is not one (``us``)."""

    label: str
    at_least: float
    value: float | None
    """The measured ratio, ``None`` when a side could not be measured."""
    at_most: bool = False
    unit: str = "x"

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value <= self.at_least if self.at_most else self.value >= self.at_least
