"""``bus.worker.loop.blocked``: the worker's loop watchdog tells ``Metrics`` of each blocked
stretch, recorded as one histogram point per stretch (on the in-memory AWS; the Prometheus name
is read end to end in tests/cli/test_worker_watchdog.py); several workers on one loop: one point."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

from bus.memory import open_harness
from bus.otel.metrics import Metrics
from tests.worker import blocking
from tests.worker.apps import Ping

ROOT = Path(__file__).resolve().parents[2]


def blocked(reader: InMemoryMetricReader) -> list[HistogramDataPoint]:
    data = reader.get_metrics_data()
    if data is None:  # nothing recorded by any instrument yet
        return []
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "bus.worker.loop.blocked"
        for point in metric.data.data_points
        if isinstance(point, HistogramDataPoint)
    ]


async def test_a_handler_s_block_is_a_point_of_the_loop_blocked_histogram(tmp_path: Path) -> None:
    reader = InMemoryMetricReader()
    metrics = Metrics(MeterProvider(metric_readers=[reader]))
    path = tmp_path / "topology.yaml"
    path.write_text(blocking.topology("wmetrics"))
    async with open_harness(path, base_dir=ROOT) as harness:
        await harness.run_until_idle(blocked_after=0.2, middleware=[metrics])
        assert blocked(reader) == []  # nothing blocked: no point
        await harness.publish(Ping(key="nap"))
        await harness.run_until_idle(blocked_after=0.2, middleware=[metrics])
    (point,) = blocked(reader)
    assert point.count == 1
    assert blocking.NAP - 0.05 <= point.sum < 5
    assert dict(point.attributes or {}) == {}


async def test_no_point_when_the_watchdog_is_off(tmp_path: Path) -> None:
    reader = InMemoryMetricReader()
    metrics = Metrics(MeterProvider(metric_readers=[reader]))
    path = tmp_path / "topology.yaml"
    path.write_text(blocking.topology("wmetricsoff"))
    async with open_harness(path, base_dir=ROOT) as harness:
        await harness.publish(Ping(key="nap"))
        await harness.run_until_idle(blocked_after=None, middleware=[metrics])
    assert blocked(reader) == []


async def test_two_workers_on_one_loop_sharing_metrics_record_a_stretch_once(
    tmp_path: Path,
) -> None:
    """A blocked loop is one stretch, however many workers run on it: one ``Metrics`` given to
    both records one point."""
    reader = InMemoryMetricReader()
    metrics = Metrics(MeterProvider(metric_readers=[reader]))
    path = tmp_path / "topology.yaml"
    path.write_text(blocking.pair_topology("wmetricspair"))
    async with open_harness(path, base_dir=ROOT) as harness:
        await harness.publish(Ping(key="nap"))
        pings, naps = (
            harness.worker(queues=(queue,), blocked_after=0.2, middleware=[metrics])
            for queue in ("pings", "naps")
        )
        await blocking.run_together([pings, naps], lambda: naps.stats.queue("naps").processed > 0)
    (point,) = blocked(reader)
    assert point.count == 1
    assert blocking.NAP - 0.05 <= point.sum < 5
