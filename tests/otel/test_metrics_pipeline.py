"""The ``Metrics`` middleware driven directly (no AWS): duplicates, undeclared types, an exception
escaping the pipeline, and the publish side's sent and failed entries by destination."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

from bus.envelope import Envelope
from bus.middleware.consume import DUPLICATE, Incoming, Outcome
from bus.middleware.publish import OutgoingBatch
from bus.otel import Metrics
from bus.publish.prepare import Channel
from bus.publish.senders import EntryOutcome
from bus.worker.message import Received


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def metrics(reader: InMemoryMetricReader) -> Metrics:
    return Metrics(MeterProvider(metric_readers=[reader]))


def values(reader: InMemoryMetricReader, name: str) -> dict[frozenset[tuple[str, Any]], Any]:
    data = reader.get_metrics_data()
    assert data is not None
    out: dict[frozenset[tuple[str, Any]], Any] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    for p in metric.data.data_points:
                        count = p.count if isinstance(p, HistogramDataPoint) else p.value
                        out[frozenset(dict(p.attributes).items())] = count
    return out


def delivery(kind: str = "Ping", age: float = 2.0) -> Incoming:
    message = Received("m1", "r1", "{}", {}, {"ApproximateReceiveCount": "1"})
    found = Incoming(
        message, "work", 1, structlog.get_logger(), lambda d, e: Outcome("dead-letter")
    )
    found.envelope = Envelope(
        id="e1",
        type=kind,
        version=1,
        source="test",
        time=datetime.now(UTC) - timedelta(seconds=age),
        data={},
    )
    return found


def labels(**extra: str) -> frozenset[tuple[str, Any]]:
    base = {"messaging.system": "aws_sqs", "messaging.destination.name": "work"}
    return frozenset({**base, **extra}.items())


async def test_a_duplicate_is_handled_and_its_latency_is_the_events_age(
    metrics: Metrics, reader: InMemoryMetricReader
) -> None:
    async def skip(d: Incoming) -> None:
        d.outcome = DUPLICATE

    await metrics(delivery(age=2.0), skip)
    handled = values(reader, "bus.messages.handled")
    assert handled == {
        labels(
            **{
                "bus.event.type": "Ping",
                "bus.outcome": "duplicate",
                "bus.reason": "already-handled",
            }
        ): 1
    }
    data = reader.get_metrics_data()
    assert data is not None
    (latency,) = [
        p
        for s in data.resource_metrics[0].scope_metrics
        for m in s.metrics
        if m.name == "bus.message.latency"
        for p in m.data.data_points
    ]
    assert 2.0 <= latency.sum < 10.0


async def test_an_undeclared_type_does_not_become_a_label(
    metrics: Metrics, reader: InMemoryMetricReader
) -> None:
    async def nothing(d: Incoming) -> None:
        pass

    for n in range(3):
        refused = delivery(kind=f"Attack{n}")
        refused.outcome = Outcome("dead-letter", reason="unknown-event")
        await metrics(refused, nothing)
    dead = values(reader, "bus.messages.dead_lettered")
    unknown = {"bus.event.type": "(unknown)", "bus.outcome": "dead-letter"}
    assert dead == {labels(**unknown, **{"bus.reason": "unknown-event"}): 3}
    assert values(reader, "messaging.client.consumed.messages") == {
        labels(**{"bus.event.type": "(unknown)"}): 3
    }


async def test_an_exception_escaping_the_pipeline_counts_as_redelivered_and_leaves_nothing_in_flight(
    metrics: Metrics, reader: InMemoryMetricReader
) -> None:
    async def broken(d: Incoming) -> None:
        assert values(reader, "bus.messages.in_flight") == {labels(**{"bus.event.type": "Ping"}): 1}
        raise RuntimeError("a middleware broke")

    with pytest.raises(RuntimeError):
        await metrics(delivery(), broken)
    assert values(reader, "bus.messages.in_flight") == {labels(**{"bus.event.type": "Ping"}): 0}
    retried = values(reader, "bus.messages.retried")
    assert retried == {
        labels(
            **{"bus.event.type": "Ping", "bus.retry": "redeliver", "bus.reason": "no-outcome"}
        ): 1
    }


def outcomes(*codes: str | None, retryable: bool = False) -> list[EntryOutcome]:
    return [
        EntryOutcome(str(n), message_id=None if code else f"id{n}", code=code, retryable=retryable)
        for n, code in enumerate(codes)
    ]


async def test_sent_and_failed_entries_by_destination(
    metrics: Metrics, reader: InMemoryMetricReader
) -> None:
    topic = Channel("topic", "orders")
    queue = Channel("queue", "billing")

    def answering(found: list[EntryOutcome]) -> Any:
        async def call(batch: OutgoingBatch) -> None:
            batch.outcomes = found

        return call

    async def failing(batch: OutgoingBatch) -> None:
        raise ConnectionError("down")

    entries: Sequence[Any] = [object()] * 3
    await metrics.batch(
        OutgoingBatch(topic, entries), answering(outcomes(None, None, "KMS.Throttling"))
    )
    await metrics.batch(
        OutgoingBatch(topic, entries), answering(outcomes(None, "Throttled", retryable=True))
    )
    with pytest.raises(ConnectionError):
        await metrics.batch(OutgoingBatch(queue, entries), failing)
    sns = {"messaging.system": "aws_sns", "messaging.destination.name": "orders"}
    sqs = {"messaging.system": "aws_sqs", "messaging.destination.name": "billing"}
    send = {"messaging.operation.name": "send"}
    assert values(reader, "messaging.client.sent.messages") == {
        frozenset({**sns, **send}.items()): 3,
        frozenset({**sns, **send, "error.type": "KMS.Throttling"}.items()): 1,
        frozenset({**sns, **send, "error.type": "Throttled", "bus.retryable": "true"}.items()): 1,
        frozenset({**sqs, **send, "error.type": "ConnectionError"}.items()): 3,
    }
