"""The metrics of a run with failures, read by an in-memory metric reader, against the emulator.

One worker handles: two good events, one that fails once transiently (tried again in-process),
one that asks to be retried later (redelivered, then handled), one rejected (dead-lettered) and
one undecodable body sent straight to the queue (dead-lettered as ``decode-error``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
import pytest_asyncio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

from bus.aws import AwsClients
from bus.otel import Metrics
from bus.publish.publisher import Publisher
from bus.worker import Stats, Worker, WorkerOptions
from tests.worker import apps
from tests.worker.conftest import (
    ROOT,
    Applied,
    apply_topology,
    module_aws,  # noqa: F401  (the fixture)
    new_env,
    wait_for,
)

pytestmark = pytest.mark.aws

TOPOLOGY = """
name: wmetrics
queues:
  work: {visibility_timeout: 5, dead_letter: {max_receive_count: 3}}
events:
  Ping: {model: tests.worker.apps:Ping, publish_to: [{queue: work}]}
handlers:
  work:
    events: {Ping: "tests.worker.apps:record"}
    retry:
      attempts: 2
      transient: ["tests.worker.apps:Transient"]
      in_process: {initial: 0.01, maximum: 0.05}
      redelivery: {initial: 0, maximum: 0}
"""
SQS = {"messaging.system": "aws_sqs"}


@pytest_asyncio.fixture(scope="module")
async def applied(
    module_aws: AwsClients,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Applied]:
    yield await apply_topology(module_aws, TOPOLOGY, tmp_path_factory.mktemp("m"), new_env())


def points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def totals(found: list[Any]) -> dict[frozenset[tuple[str, Any]], float]:
    """Each point's value (a histogram's count) by its attribute set."""
    return {
        frozenset(dict(p.attributes).items()): p.count
        if isinstance(p, HistogramDataPoint)
        else p.value
        for p in found
    }


def attrs(**extra: str) -> frozenset[tuple[str, Any]]:
    labels: Mapping[str, str] = {**SQS, "messaging.destination.name": "work", **extra}
    return frozenset({k.replace("_", "."): v for k, v in labels.items()}.items())


async def test_counts_of_a_run_with_failures(applied: Applied) -> None:
    reader = InMemoryMetricReader()
    metrics = Metrics(MeterProvider(metric_readers=[reader]))
    publisher = Publisher(
        applied.aws, applied.registry, applied.topology, applied.env, middleware=[metrics]
    )
    worker = Worker(
        applied.aws,
        applied.topology,
        env=applied.env,
        base_dir=ROOT,
        registry=applied.registry,
        publisher=publisher,
        options=WorkerOptions(wait_seconds=1, shutdown_grace=5),
        stats=(stats := Stats()),
        middleware=[metrics],
    )
    k = uuid.uuid4().hex[:8]
    behaviours = {"ok": 2, "transient-once": 1, "retry-once": 1, "reject": 1}
    pings = [
        apps.Ping(key=f"{k}-{b}-{n}", behaviour=b)
        for b, count in behaviours.items()
        for n in range(count)
    ]
    await worker.start()
    try:
        await publisher.publish_many(pings, check=True)
        await applied.aws.sqs.send_message(
            QueueUrl=await applied.queue_url("work"), MessageBody="not json at all"
        )
        await wait_for(
            lambda: (
                stats.queue("work").dead_lettered == 2
                and len([c for c in apps.CALLS if c.key.startswith(k)]) == 4
            ),
            within=40,
        )
    finally:
        await worker.stop()

    ping = {"bus.event.type": "Ping"}
    handled = totals(points(reader, "bus.messages.handled"))
    assert handled == {attrs(**ping, bus_outcome="handled"): 4}
    retried = totals(points(reader, "bus.messages.retried"))
    assert retried == {
        attrs(**ping, bus_retry="in-process", bus_reason="transient"): 1,
        attrs(**ping, bus_retry="redeliver", bus_reason="handler-error"): 1,
    }
    dead = totals(points(reader, "bus.messages.dead_lettered"))
    assert dead == {
        attrs(**ping, bus_outcome="dead-letter", bus_reason="rejected", error_type="Reject"): 1,
        attrs(bus_outcome="dead-letter", bus_reason="decode-error", error_type="DecodeError"): 1,
    }
    consumed = totals(points(reader, "messaging.client.consumed.messages"))
    assert consumed == {attrs(**ping): 6, attrs(): 1}  # retry-once is delivered twice
    in_flight = totals(points(reader, "bus.messages.in_flight"))
    assert set(in_flight.values()) == {0}
    durations = totals(points(reader, "messaging.process.duration"))
    assert sum(durations.values()) == 7
    assert durations[attrs(**ping, bus_outcome="handled")] == 4
    latency = points(reader, "bus.message.latency")
    assert [p.count for p in latency] == [6]  # every decoded delivery; the event's age >= 0
    assert latency[0].min >= 0
    sent = totals(points(reader, "messaging.client.sent.messages"))
    assert sent == {
        frozenset(
            {
                "messaging.system": "aws_sqs",
                "messaging.destination.name": "work",
                "messaging.operation.name": "send",
            }.items()
        ): 5
    }


async def test_the_workers_own_publisher_counts_through_publish_middleware(
    applied: Applied,
) -> None:
    reader = InMemoryMetricReader()
    metrics = Metrics(MeterProvider(metric_readers=[reader]))
    worker = Worker(
        applied.aws,
        applied.topology,
        env=applied.env,
        base_dir=ROOT,
        registry=applied.registry,
        publish_middleware=[metrics],
    )
    assert worker.publisher is not None
    await worker.publisher.publish_many([apps.Ping(key="p1"), apps.Ping(key="p2")], check=True)
    await applied.drain("work")
    sent = totals(points(reader, "messaging.client.sent.messages"))
    assert sent == {
        frozenset(
            {
                "messaging.system": "aws_sqs",
                "messaging.destination.name": "work",
                "messaging.operation.name": "send",
            }.items()
        ): 2
    }
