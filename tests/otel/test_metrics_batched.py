"""Where exemplars are wanted (or the merge cannot be exact: tests/otel/test_metrics_merged.py), the
histograms' records are queued and handed to the SDK in batches (``Batched``): none is lost to a
collection, none is recorded twice, each keeps its own attributes and the context it was made in
(the exemplar's trace)."""

from __future__ import annotations

from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from bus.envelope import Envelope
from bus.middleware.consume import HANDLED, Incoming, Outcome
from bus.otel import Metrics
from bus.otel.histogram import BATCH, Batched
from bus.worker.message import Received


class Histogram:
    """Records what the SDK would be handed (the fake stands for the SDK's instrument only)."""

    def __init__(self) -> None:
        self.records: list[tuple[float, Any, Any]] = []

    def record(self, amount: float, attributes: Any = None, context: Any = None) -> None:
        self.records.append((amount, attributes, context))


def test_records_reach_the_sdk_every_batch_and_at_each_collection() -> None:
    histogram = Histogram()
    batched = Batched(histogram)  # type: ignore[arg-type]
    handled, failed = {"bus.outcome": "handled"}, {"bus.outcome": "dead-letter"}
    context = otel_context.Context()
    for n in range(BATCH - 1):
        batched.record(float(n), handled if n % 2 else failed, context)
    assert histogram.records == []
    batched.record(999.0, handled, context)
    assert len(histogram.records) == BATCH
    assert [r[0] for r in histogram.records] == [*map(float, range(BATCH - 1)), 999.0]
    assert histogram.records[1][1] is handled
    assert histogram.records[2][1] is failed
    assert all(r[2] is context for r in histogram.records)
    batched.record(1.5, failed, context)
    assert batched.observe(None) == []  # type: ignore[arg-type]  # a collection flushes
    assert histogram.records[-1] == (1.5, failed, context)
    assert len(histogram.records) == BATCH + 1
    assert batched.observe(None) == []  # type: ignore[arg-type]
    assert len(histogram.records) == BATCH + 1  # nothing recorded twice


def delivery(message_id: str) -> Incoming:
    message = Received(message_id, "r", "{}", {}, {"ApproximateReceiveCount": "1"})
    found = Incoming(
        message, "work", 1, structlog.get_logger(), lambda d, e: Outcome("dead-letter")
    )
    found.envelope = Envelope(
        id=f"e-{message_id}", type="Ping", version=1, source="test", time=None, data={}
    )
    return found


def points(reader: InMemoryMetricReader, name: str) -> list[HistogramDataPoint]:
    data = reader.get_metrics_data()
    assert data is not None
    return [
        p
        for r in data.resource_metrics
        for s in r.scope_metrics
        for m in s.metrics
        if m.name == name
        for p in m.data.data_points
        if isinstance(p, HistogramDataPoint)
    ]


async def test_a_collection_sees_every_delivery_with_its_outcome_and_its_trace() -> None:
    reader = InMemoryMetricReader()
    metrics = Metrics(MeterProvider(metric_readers=[reader]))
    assert type(metrics.duration) is Batched  # exemplars wanted (trace-based): per record
    tracer = TracerProvider().get_tracer("test")

    async def handle(d: Incoming) -> None:
        d.outcome = HANDLED

    async def reject(d: Incoming) -> None:
        d.outcome = Outcome("dead-letter", reason="rejected")

    with tracer.start_as_current_span("process work") as span:
        for n in range(3):
            await metrics(delivery(f"h{n}"), handle)
    await metrics(delivery("d1"), reject)
    found = {
        dict(p.attributes or {})["bus.outcome"]: p
        for p in points(reader, "messaging.process.duration")
    }
    assert {k: p.count for k, p in found.items()} == {"handled": 3, "dead-letter": 1}
    assert {e.trace_id for e in found["handled"].exemplars} == {span.get_span_context().trace_id}
    assert not any(e.trace_id for e in found["dead-letter"].exemplars)
    await metrics(delivery("h4"), handle)
    found = {
        dict(p.attributes or {})["bus.outcome"]: p
        for p in points(reader, "messaging.process.duration")
    }
    assert found["handled"].count == 4  # cumulative: the earlier ones not recorded twice
    assert found["dead-letter"].count == 1
    assert trace.get_current_span().get_span_context().is_valid is False
