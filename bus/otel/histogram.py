"""The two histograms' records, aggregated by bus and merged into the SDK at each collection.

``histogram(instrument, merge=True)`` returns what ``Metrics`` records into:

- ``Merged`` (when the merge is exact, see below): a record is a bisect into bus's own bucket
  counts for its attribute set (keyed by the cached mapping's identity, as ``Tally`` does) plus
  its sum, min and max, under one lock; about a microsecond. Before every collection (the callback
  of an asynchronous instrument, which the SDK runs before it reads its storage: a reader never
  misses a record) the counts made since the last one are taken whole and added, per attribute
  set, into the aggregation the SDK would have recorded them into, in every reader's storage,
  under that aggregation's own lock. Memory: one small entry per attribute set.
- ``Batched`` otherwise: the records are queued and handed to the SDK's ``Histogram.record`` every
  ``BATCH`` records and before every collection (the SDK's own path, per record: about 10 µs each).

The merge is exact: counts, bucket counts, min, max, attributes, exemplars (none) and the start and
end times' relations are what the SDK's per-record path exports; a sum is the same additions in the
same order within one collection interval, so it is identical for one reader; a reader whose
interval spans another reader's collections gets the same sum up to float rounding. It is used
only when every condition holds, checked when the instrument is made (the provider, the filter)
and at its first record, which goes through the SDK's ``record`` (making the instrument's storage
in every reader, as the per-record path does), and again whenever the SDK's set of readers changes
(``MeterProvider.add_metric_reader``, ``remove_metric_reader``):

- the instrument is the SDK's (``opentelemetry.sdk.metrics``) histogram, not the API's no-op or
  proxy one (``Metrics()`` before the global provider is set), and the exemplar filter is
  ``AlwaysOffExemplarFilter`` (bus's ``meter_provider`` sets it when only Prometheus readers
  read): an exemplar needs each measurement's context, so with any other filter every record
  goes through the SDK as before;
- every reader's view of the instrument is an explicit-bucket histogram (the default, or a View's
  ``ExplicitBucketHistogramAggregation``), with the same boundaries in every reader (bus bisects
  with them), no ``attribute_keys`` filter and no ``Drop`` (a View asking for an exponential
  histogram, different boundaries per reader, or filtered keys: per record);
- the SDK internals it relies on are there (tested with OpenTelemetry SDK 1.45):
  ``Histogram._measurement_consumer``; ``SynchronousMeasurementConsumer._reader_storages`` (a
  mapping replaced, never mutated, when a reader is added or removed: how a change is noticed) and
  ``_sdk_config.exemplar_filter``; ``MetricReaderStorage._get_or_init_view_instrument_match``;
  ``_ViewInstrumentMatch._view._attribute_keys``, ``._aggregation``, ``._lock`` and
  ``._get_or_create_aggregation(key, attributes)`` (which creates the aggregation with the start
  time, cardinality limit and overflow set the per-record path would use); the module function
  ``_view_instrument_match._hash_attributes`` (the aggregation key); and on
  ``_ExplicitBucketHistogramAggregation``: ``_lock``, ``_value`` (bucket counts or None),
  ``_sum``, ``_min``, ``_max``, ``_boundaries``, ``_record_min_max``. If any is missing (another
  SDK version), bus falls back to ``Batched``: slower, never wrong. If one changes meaning, the
  differential tests in ``tests/otel/test_metrics_merged.py`` fail.

Limits: a reader added at run time is merged into from the first collection after it is added, so
it may see records made shortly before it was added (the per-record path would not); a value the
SDK would refuse (negative, not finite) goes to the SDK's ``record``, which logs and drops it.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics as otel

Attributes = Mapping[str, str]

BATCH = 128
"""Histogram records queued before they are handed to the SDK (and at every collection)."""
_INF = math.inf


class Batched:
    """A histogram's records queued and handed to the SDK in batches: every ``BATCH`` records
    and before every collection (``observe``, the callback of an asynchronous instrument: the SDK
    runs those before it reads its storage). Each record keeps the context it was made in (for
    exemplars); only its SDK timestamp is later."""

    __slots__ = ("_histogram", "_queue")

    contexts = True
    """A record's context may be exported (an exemplar): give each record its own."""

    def __init__(self, histogram: otel.Histogram) -> None:
        self._histogram = histogram
        self._queue: deque[tuple[float, Attributes, otel_context.Context | None]] = deque()

    def record(
        self, value: float, attributes: Attributes, context: otel_context.Context | None
    ) -> None:
        queue = self._queue
        queue.append((value, attributes, context))
        if len(queue) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Hand every queued record to the SDK (thread-safe: each is taken once)."""
        queue, record = self._queue, self._histogram.record
        while queue:
            try:
                value, attributes, context = queue.popleft()
            except IndexError:  # another thread took the last one
                return
            record(value, attributes, context)

    def observe(self, options: otel.CallbackOptions) -> list[otel.Observation]:
        self.flush()
        return []


class Pending:
    """One attribute set's records since the last merge: bucket counts, sum, min, max."""

    __slots__ = ("attributes", "counts", "max", "min", "sum")

    def __init__(self, attributes: Attributes, buckets: int) -> None:
        self.attributes = attributes
        self.counts = [0] * buckets
        self.sum: float = 0
        self.min = math.inf
        self.max = -math.inf


class Merged:
    """A histogram aggregated by bus and merged into the SDK's aggregations at each collection
    (see the module's docstring). Build it with ``histogram()``. Its first record goes through
    the SDK's ``record`` (which makes the instrument's storage in every reader, as it would on the
    per-record path); the conditions are checked then, and again when the readers change."""

    contexts = False
    """Made only with exemplars off: a record's context changes nothing exported, so records need
    none (``None``: where one goes to the SDK, the SDK reads the current context itself)."""

    def __init__(self, histogram: Any, consumer: Any, hash_attributes: Any) -> None:
        self._histogram = histogram
        self._consumer = consumer
        self._hash = hash_attributes
        self._lock = threading.Lock()
        self._pending: dict[int, Pending] = {}
        self._fallback: Batched | None = None
        self._ready = False  # True while records are merged: after the first, until a fallback
        self._storages: object = None
        self._matches: list[Any] = []
        self.bounds: tuple[float, ...] = ()
        self.size = 1

    @property
    def merging(self) -> bool:
        """Whether records are merged (False before the first record, and after a fallback)."""
        return self._ready

    def record(
        self, value: float, attributes: Attributes, context: otel_context.Context | None
    ) -> None:
        if self._ready and 0.0 <= value < _INF:
            lock = self._lock
            lock.acquire()  # not ``with``: a little cheaper
            try:
                if self._ready:  # again, under the lock: a flush may have turned it off
                    pending = self._pending.get(id(attributes))
                    if pending is None:
                        pending = self._pending[id(attributes)] = Pending(attributes, self.size)
                    pending.counts[bisect_left(self.bounds, value)] += 1
                    pending.sum += value
                    if value < pending.min:
                        pending.min = value
                    if value > pending.max:
                        pending.max = value
                    return
            finally:
                lock.release()
        self._other(value, attributes, context)

    def _other(
        self, value: float, attributes: Attributes, context: otel_context.Context | None
    ) -> None:
        """The first record, a value the SDK refuses (it logs and drops it), or a fallback's."""
        if not 0.0 <= value < _INF:
            self._histogram.record(value, attributes, context)
            return
        with self._lock:
            fallback = self._fallback
            if fallback is None and not self._ready:  # the first record
                self._histogram.record(value, attributes, context)
                if self._resolve():
                    self._ready = True
                else:
                    self._fallback = Batched(self._histogram)
                return
        if fallback is None:  # merged since it was looked at
            self.record(value, attributes, context)
        else:
            fallback.record(value, attributes, context)

    def _resolve(self) -> bool:
        """Find the view matches of every reader's storage; whether the merge is exact there
        (with the boundaries the pending records were bisected with, after the first time)."""
        try:
            storages = self._consumer._reader_storages
            matches, bounds = _matches(self._histogram, storages.values())
        except AttributeError:  # another SDK version
            return False
        self._storages, self._matches = storages, matches
        if bounds is None or (self._ready and bounds != self.bounds):
            return False
        self.bounds, self.size = bounds, len(bounds) + 1
        return True

    def flush(self) -> None:
        """Merge the records made since the last flush into the SDK (each taken once)."""
        with self._lock:
            pending, self._pending = self._pending, {}
            matches = self._matches
            if pending and self._consumer._reader_storages is not self._storages:
                if not self._resolve():  # per record from now on; these where they can go
                    self._ready = False
                    self._fallback = Batched(self._histogram)
                matches = [m for m in self._matches if _mergeable(m, self.bounds)]
        if not pending or not self._enabled():
            return
        for entry in pending.values():
            attributes = dict(entry.attributes)
            key = self._hash(attributes)
            for match in matches:
                with match._lock:  # as the SDK's own record: no collection in between
                    aggregation = match._get_or_create_aggregation(key, attributes)
                    _merge(aggregation, entry)

    def observe(self, options: otel.CallbackOptions) -> list[otel.Observation]:
        self.flush()
        fallback = self._fallback
        if fallback is not None:
            fallback.flush()
        return []

    def _enabled(self) -> bool:
        enabled = getattr(self._histogram, "_is_enabled", None)
        return enabled is None or bool(enabled())


def _merge(aggregation: Any, entry: Pending) -> None:
    """Add ``entry`` into an ``_ExplicitBucketHistogramAggregation``, as its ``aggregate`` would
    have added each record."""
    with aggregation._lock:
        value = aggregation._value
        if value is None:
            aggregation._value = list(entry.counts)
        else:
            for index, count in enumerate(entry.counts):
                if count:
                    value[index] += count
        aggregation._sum += entry.sum
        if aggregation._record_min_max:
            aggregation._min = min(aggregation._min, entry.min)
            aggregation._max = max(aggregation._max, entry.max)


def _matches(instrument: Any, storages: Any) -> tuple[list[Any], tuple[float, ...] | None]:
    """Every storage's view matches of ``instrument``, and their common boundaries when every one
    can be merged into (else None)."""
    matches: list[Any] = []
    for storage in storages:
        matches.extend(storage._get_or_init_view_instrument_match(instrument))
    bounds = {getattr(m._aggregation, "_boundaries", None) for m in matches}
    common = bounds.pop() if len(bounds) == 1 else None
    if common is None or not all(_mergeable(m, common) for m in matches):
        return matches, None
    return matches, common


def _mergeable(match: Any, bounds: Sequence[float]) -> bool:
    """Whether ``match`` aggregates into explicit buckets of ``bounds`` with every attribute."""
    from opentelemetry.sdk.metrics._internal.aggregation import (
        _ExplicitBucketHistogramAggregation,
    )

    aggregation = getattr(match, "_aggregation", None)
    view = getattr(match, "_view", None)
    return (
        type(aggregation) is _ExplicitBucketHistogramAggregation
        and getattr(aggregation, "_boundaries", None) == tuple(bounds)
        and all(hasattr(aggregation, n) for n in ("_value", "_sum", "_min", "_max", "_lock"))
        and hasattr(aggregation, "_record_min_max")
        and view is not None
        and getattr(view, "_attribute_keys", ()) is None
        and hasattr(match, "_lock")
        and hasattr(match, "_get_or_create_aggregation")
    )


def histogram(instrument: otel.Histogram, merge: bool = True) -> Merged | Batched:
    """``Merged`` over ``instrument`` when its merge can be exact (the provider and the exemplar
    filter are checked here, the views at its first record; see the module), else ``Batched``;
    ``merge=False``: ``Batched`` (the SDK's path per record)."""
    if not merge:
        return Batched(instrument)
    try:
        from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter
        from opentelemetry.sdk.metrics import Histogram as SdkHistogram
        from opentelemetry.sdk.metrics._internal._view_instrument_match import _hash_attributes
    except ImportError:  # another SDK version, or none
        return Batched(instrument)
    consumer = getattr(instrument, "_measurement_consumer", None)
    config = getattr(consumer, "_sdk_config", None)
    if (
        not isinstance(instrument, SdkHistogram)
        or not hasattr(consumer, "_reader_storages")
        or not isinstance(getattr(config, "exemplar_filter", None), AlwaysOffExemplarFilter)
    ):
        return Batched(instrument)
    return Merged(instrument, consumer, _hash_attributes)
