"""The histograms aggregated by bus and merged into the SDK (``bus.otel.histogram.Merged``) export
what the SDK's per-record path exports: the same records are made once through ``Merged`` and once
per record through the SDK's ``Histogram.record`` (on a second provider with the same readers),
and every collection's data points are compared field by field (start times by their relation to
the collections' times). Where the merge cannot be exact, ``histogram()`` falls back to the SDK's
path per record (``Batched``)."""

from __future__ import annotations

import math
import sys
import threading
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import context as otel_context
from opentelemetry import metrics as otel
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    AlwaysOnExemplarFilter,
    Histogram,
    MeterProvider,
    TraceBasedExemplarFilter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    InMemoryMetricReader,
    MetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)

from bus.otel import Metrics
from bus.otel.histogram import Batched, Merged, histogram
from bus.otel.metrics import DURATION_BUCKETS, meter_provider
from bus.otel.prometheus import PrometheusReader

BOUNDS = DURATION_BUCKETS
CUMULATIVE = AggregationTemporality.CUMULATIVE
DELTA = AggregationTemporality.DELTA
SETS: list[dict[str, str]] = [
    {"messaging.destination.name": "orders", "bus.outcome": "handled"},
    {"messaging.destination.name": "orders", "bus.outcome": "dead-letter", "error.type": "E"},
    {},
    {"messaging.destination.name": "billing", "bus.outcome": "handled"},
]
EDGES = [0, 0.0, 0.005, 0.01, 0.0049999, 0.0050001, 7.5, 10, 10.000001, 11.5, 3600.0, 1e9, 3]
"""On a bound, just either side of one, zero (int and float), above the last bound, an int."""


def reader(temporality: AggregationTemporality, **options: Any) -> InMemoryMetricReader:
    return InMemoryMetricReader(preferred_temporality={Histogram: temporality}, **options)


class Side:
    """One provider with fresh readers like ``readers``' and histogram ``h`` recorded either
    through ``histogram()`` (merged: ``merge=True``) or per record through the SDK."""

    def __init__(
        self,
        readers: Callable[[], list[MetricReader]],
        merge: bool,
        views: Sequence[View] = (),
        exemplar_filter: Any = None,
    ) -> None:
        self.readers = readers()
        self.provider = MeterProvider(
            self.readers,
            exemplar_filter=exemplar_filter or AlwaysOffExemplarFilter(),
            shutdown_on_exit=False,
            views=views,
        )
        meter = self.provider.get_meter("test")
        self.instrument = meter.create_histogram(
            "h", "s", explicit_bucket_boundaries_advisory=BOUNDS
        )
        self.histogram = histogram(self.instrument) if merge else None
        meter.create_observable_gauge("clock", [self._observe])
        self.times: list[list[int]] = [[] for _ in self.readers]

    def _observe(self, options: otel.CallbackOptions) -> list[otel.Observation]:
        if self.histogram is not None:
            self.histogram.observe(options)
        return [otel.Observation(0)]  # its point's time is the collection's

    def record(self, value: float, attributes: dict[str, str]) -> None:
        if self.histogram is None:
            self.instrument.record(value, attributes)
        else:
            self.histogram.record(value, attributes, otel_context.Context())

    def collect(self, index: int) -> list[HistogramDataPoint]:
        """Collect reader ``index``: its points of ``h``; remembers the collection's time."""
        found = self.readers[index]
        assert isinstance(found, InMemoryMetricReader)
        data = found.get_metrics_data()
        assert data is not None
        metrics = [m for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics]
        (clock,) = [p for m in metrics if m.name == "clock" for p in m.data.data_points]
        assert isinstance(clock, NumberDataPoint)
        self.times[index].append(clock.time_unix_nano)
        points = [p for m in metrics if m.name == "h" for p in m.data.data_points]
        assert all(isinstance(p, HistogramDataPoint) for p in points)
        return points  # type: ignore[return-value]

    def when(self, index: int, nanos: int) -> tuple[str, int]:
        """A start time by its relation to reader ``index``'s collections: at the time of
        collection ``j``, or in the interval that ends with collection ``j``."""
        times = self.times[index]
        if nanos in times:
            return ("at", times.index(nanos))
        return ("in", next(j for j, t in enumerate(times) if nanos < t))


def compare(
    merged: Side, sdk: Side, index: int, exact_sum: bool = True
) -> list[HistogramDataPoint]:
    """Collect reader ``index`` on both sides and compare every point; the merged side's."""
    ours, theirs = merged.collect(index), sdk.collect(index)
    assert [dict(p.attributes or {}) for p in ours] == [dict(p.attributes or {}) for p in theirs]
    for m, s in zip(ours, theirs, strict=True):
        assert (m.count, m.bucket_counts, m.explicit_bounds) == (
            s.count,
            s.bucket_counts,
            s.explicit_bounds,
        )
        assert (m.min, m.max, list(m.exemplars)) == (s.min, s.max, list(s.exemplars))
        if exact_sum:
            assert m.sum == s.sum
            assert type(m.sum) is type(s.sum)
        else:  # several readers: the same values added in another grouping
            assert math.isclose(m.sum, s.sum, rel_tol=1e-12)
        assert m.time_unix_nano == merged.times[index][-1]
        assert s.time_unix_nano == sdk.times[index][-1]
        assert merged.when(index, m.start_time_unix_nano) == sdk.when(index, s.start_time_unix_nano)
    return ours


Op = tuple[str, float, int]
"""("record", value, attribute set) or ("collect", 0, reader)."""


def run(
    readers: Callable[[], list[MetricReader]], ops: Sequence[Op], **side: Any
) -> list[HistogramDataPoint]:
    """``ops`` on a merged side and a per-record side, every collection compared (a collection
    of reader ``n`` collects reader ``n`` modulo their number); the merged side's points."""
    merged, sdk = Side(readers, True, **side), Side(readers, False, **side)
    assert isinstance(merged.histogram, Merged)
    assert not merged.histogram.merging  # until its first record
    several = len(merged.readers) > 1
    points: list[HistogramDataPoint] = []
    for what, value, n in ops:
        if what == "record":
            merged.record(value, SETS[n])
            sdk.record(value, SETS[n])
        else:
            points += compare(merged, sdk, n % len(merged.readers), exact_sum=not several)
    assert merged.histogram.merging or not any(op[0] == "record" for op in ops)
    for n in range(len(merged.readers)):
        points += compare(merged, sdk, n, exact_sum=not several)
    return points


def scenario(readers: int = 1) -> list[Op]:
    """Every edge value in every attribute set, collections between and after, some sets idle
    for a collection or more."""
    ops: list[Op] = []
    for round_ in range(4):
        for i, value in enumerate(EDGES):
            ops.append(("record", value, (i + round_) % (len(SETS) - round_ // 2)))
        ops.extend(("collect", 0, n) for n in range(readers))
        if round_ == 1:
            ops.extend(("collect", 0, n) for n in range(readers))  # nothing recorded between
    ops.append(("record", 0.25, 0))
    return ops


@pytest.mark.parametrize("temporality", [CUMULATIVE, DELTA])
def test_the_merged_path_exports_what_the_sdk_exports_per_record(
    temporality: AggregationTemporality,
) -> None:
    assert len(run(lambda: [reader(temporality)], scenario())) >= 12


def test_two_readers_one_cumulative_one_delta_collecting_at_different_times() -> None:
    ops = scenario(readers=2)
    ops[5:5] = [("collect", 0, 1)]  # reader 1 between reader 0's collections
    assert len(run(lambda: [reader(CUMULATIVE), reader(DELTA)], ops)) >= 20


@pytest.mark.parametrize("temporality", [CUMULATIVE, DELTA])
def test_the_cardinality_limits_overflow_is_the_same(temporality: AggregationTemporality) -> None:
    limit = {Histogram: 2}
    points = run(lambda: [reader(temporality, cardinality_limits=limit)], scenario())
    assert len(points) >= 8
    assert any(dict(p.attributes or {}) == {"otel.metric.overflow": True} for p in points)


@pytest.mark.parametrize("min_max", [True, False])
def test_a_view_with_other_boundaries_in_every_reader_is_merged_with_them(min_max: bool) -> None:
    aggregation = ExplicitBucketHistogramAggregation((0.0, 1, 10), record_min_max=min_max)
    view = View(instrument_name="h", aggregation=aggregation)
    points = run(lambda: [reader(CUMULATIVE), reader(DELTA)], scenario(2), views=[view])
    assert len(points) >= 12
    assert {p.explicit_bounds for p in points} == {(0.0, 1, 10)}


VALUES = st.one_of(st.sampled_from(EDGES), st.floats(0, 1e5, allow_nan=False), st.integers(0, 100))
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("record"), VALUES, st.integers(0, len(SETS) - 1)),
        st.tuples(st.just("collect"), st.just(0.0), st.integers(0, 1)),
    ),
    max_size=60,
)


@settings(max_examples=40, deadline=None)
@given(
    ops=OPS,
    temporalities=st.sampled_from([(CUMULATIVE,), (DELTA,), (CUMULATIVE, DELTA), (DELTA, DELTA)]),
)
def test_any_records_and_collections_export_the_same(
    ops: list[Op], temporalities: tuple[AggregationTemporality, ...]
) -> None:
    run(lambda: [reader(t) for t in temporalities], ops)


def merging(side: Side) -> bool:
    """Whether ``side``'s histogram merges after one record (or records per record)."""
    side.record(0.5, SETS[0])
    return isinstance(side.histogram, Merged) and side.histogram.merging


def kind(**options: Any) -> bool:
    return merging(Side(lambda: [reader(CUMULATIVE)], True, **options))


def test_falls_back_to_the_sdk_per_record_where_the_merge_cannot_be_exact() -> None:
    assert kind()
    exponential = View(instrument_name="h", aggregation=ExponentialBucketHistogramAggregation())
    assert not kind(views=[exponential])
    assert not kind(views=[View(instrument_name="h", attribute_keys={"bus.outcome"})])
    other = {Histogram: ExplicitBucketHistogramAggregation((1.0, 2.0))}
    two = Side(lambda: [reader(CUMULATIVE), reader(DELTA, preferred_aggregation=other)], True)
    assert not merging(two)  # the readers' boundaries differ
    assert isinstance(two.histogram, Merged)
    assert two.histogram._fallback is not None
    assert not kind(exemplar_filter=TraceBasedExemplarFilter())
    assert type(Side(lambda: [reader(DELTA)], True, exemplar_filter=AlwaysOnExemplarFilter())
                .histogram) is Batched  # fmt: skip
    noop = NoOpMeterProvider().get_meter("t").create_histogram("h")
    assert type(histogram(noop)) is Batched
    assert type(histogram(Side(lambda: [reader(DELTA)], False).instrument, merge=False)) is Batched


def test_the_fallback_records_per_record_what_the_sdk_records() -> None:
    other = {Histogram: ExplicitBucketHistogramAggregation((1.0, 2.0))}

    def readers() -> list[MetricReader]:
        return [reader(CUMULATIVE), reader(DELTA, preferred_aggregation=other)]

    merged, sdk = Side(readers, True), Side(readers, False)
    for value in EDGES:
        merged.record(value, SETS[1])
        sdk.record(value, SETS[1])
    assert isinstance(merged.histogram, Merged)
    assert not merged.histogram.merging
    assert len(compare(merged, sdk, 0)) == 1
    assert len(compare(merged, sdk, 1)) == 1


def test_falls_back_when_the_sdk_internals_it_relies_on_are_missing() -> None:
    side = Side(lambda: [reader(CUMULATIVE)], False)
    del side.instrument._measurement_consumer._reader_storages  # type: ignore[attr-defined]
    assert type(histogram(side.instrument)) is Batched
    side = Side(lambda: [reader(CUMULATIVE)], True)
    consumer = side.instrument._measurement_consumer  # type: ignore[attr-defined]
    storage = next(iter(consumer._reader_storages.values()))
    for match in storage._get_or_init_view_instrument_match(side.instrument):
        del match._aggregation._record_min_max
    assert not merging(side)


def test_bus_metrics_merge_with_prometheus_and_record_per_record_with_exemplars_wanted() -> None:
    merged = Metrics(meter_provider(PrometheusReader(), environ={}))
    assert type(merged.duration) is Merged
    assert type(merged.latency) is Merged
    assert not merged._contexts  # exemplars off: no delivery reads the current context
    unmerged = Metrics(meter_provider(PrometheusReader(), environ={}), merge=False)
    assert type(unmerged.duration) is Batched
    assert unmerged._contexts
    traced = Metrics(MeterProvider([InMemoryMetricReader()], shutdown_on_exit=False))
    assert type(traced.duration) is Batched  # the SDK's default filter: trace-based exemplars
    assert traced._contexts  # each record keeps its context for its exemplar


def test_a_reader_added_later_gets_the_merged_records_or_turns_the_merge_off() -> None:
    merged, sdk = (Side(lambda: [reader(CUMULATIVE)], m) for m in (True, False))
    for side in (merged, sdk):
        side.record(0.3, SETS[0])
    assert len(compare(merged, sdk, 0)) == 1
    for side in (merged, sdk):
        side.provider.add_metric_reader(late := reader(DELTA))
        side.readers.append(late)
        side.times.append([])
        side.record(0.7, SETS[1])
    assert len(compare(merged, sdk, 1)) == 1
    assert len(compare(merged, sdk, 0)) == 2
    assert isinstance(merged.histogram, Merged)
    assert merged.histogram.merging
    other = {Histogram: ExponentialBucketHistogramAggregation()}
    for side in (merged, sdk):
        side.provider.add_metric_reader(exp := reader(DELTA, preferred_aggregation=other))
        side.readers.append(exp)
        side.times.append([])
    merged.collect(2)
    sdk.collect(2)
    assert merged.histogram.merging  # nothing pending: nothing to decide yet
    for side in (merged, sdk):
        side.record(0.7, SETS[1])
    merged.collect(0)  # noticed here: per record from now on (the 0.7: not in reader 2)
    sdk.collect(0)
    assert not merged.histogram.merging
    for side in (merged, sdk):
        side.record(0.005, SETS[1])
        side.record(0.25, SETS[2])
    assert len(compare(merged, sdk, 0)) == 3
    assert len(compare(merged, sdk, 1)) == 2


@pytest.mark.parametrize("temporality", [CUMULATIVE, DELTA])
def test_collections_from_another_thread_lose_and_double_nothing(
    temporality: AggregationTemporality,
) -> None:
    side = Side(lambda: [reader(temporality)], True)
    assert isinstance(side.histogram, Merged)
    seen: list[HistogramDataPoint] = []
    done = threading.Event()

    def collect() -> None:
        while not done.is_set():
            seen.extend(side.collect(0))

    values = [(n % 40) * 0.25 for n in range(20_000)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: records and merges interleave
    thread = threading.Thread(target=collect)
    thread.start()
    try:
        for n, value in enumerate(values):
            side.record(value, SETS[n % 2])
    finally:
        done.set()
        thread.join()
        sys.setswitchinterval(interval)
    seen.extend(side.collect(0))
    assert len(side.times[0]) > 3  # collections did happen while recording
    for parity, outcome in enumerate(("handled", "dead-letter")):
        want = [0] * (len(BOUNDS) + 1)
        for value in values[parity::2]:
            want[bisect_left(BOUNDS, value)] += 1
        mine = [p for p in seen if dict(p.attributes or {}).get("bus.outcome") == outcome]
        if temporality is DELTA:
            assert len(mine) > 1
            buckets = [sum(p.bucket_counts[i] for p in mine) for i in range(len(want))]
            total = math.fsum(p.sum for p in mine)
        else:
            buckets, total = list(mine[-1].bucket_counts), mine[-1].sum
        assert buckets == want
        assert math.isclose(total, math.fsum(values[parity::2]), rel_tol=1e-9)


def test_a_value_the_sdk_refuses_is_dropped_as_it_drops_it() -> None:
    ops: list[Op] = [("record", 1.0, 0), ("collect", 0.0, 0)]
    merged, sdk = (
        Side(lambda: [reader(CUMULATIVE)], True),
        Side(lambda: [reader(CUMULATIVE)], False),
    )
    for value in (-1.0, math.inf, math.nan, 1.0):
        merged.record(value, SETS[0])
        sdk.record(value, SETS[0])
    assert len(compare(merged, sdk, 0)) == 1
    assert len(run(lambda: [reader(DELTA)], ops)) == 1
