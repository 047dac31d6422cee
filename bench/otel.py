"""What OpenTelemetry costs a worker and a publisher, in one process, printed as ratios (no
assertions).

The same N ``OrderPlaced`` messages (each with a ``traceparent``, as a traced producer sends them)
are consumed by a bus worker with a no-op handler, once per mode of ``MODES``, the modes
alternated over several rounds; reported: the process CPU per message (this process only: the
emulator runs in its own), medians, and each mode against ``off``. Then ``publish_many`` of N
events to the queue, per mode, the same way. ``off`` is bus without the ``otel`` extra's
middlewares (its core imports no OpenTelemetry: the extra costs nothing until it is used);
``traces`` records every span through the SDK's BatchSpanProcessor into an exporter that drops
them (an exporter's own cost depends on where it sends: not measured here). The issue's target:
on costs at most 15% more CPU per message than off.

``MODES`` maps a name to a function giving the middlewares of that mode (``bus.otel``'s
``Instrumentation``); a metrics mode is one more entry.

    .venv/bin/python -m bench.otel [--messages N] [--loops K] [--rounds R]

Starts its own LocalStack (bus.emulator) unless AWS_ENDPOINT_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import structlog
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from bench.emulated import aws_settings
from bench.worker import ROOT, _fill, _order, _topology, _until
from bus.aws import AwsClients
from bus.envelope import encode_body, new_envelope
from bus.otel import Instrumentation, instrumentation
from bus.publish import Publisher
from bus.schema import Registry
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.model import Topology
from bus.worker import Stats, Worker, WorkerOptions, WorkerParts

OFF = Instrumentation(consume=(), publish=())


class Dropped(SpanExporter):
    """Takes the spans and drops them."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


PROVIDERS: list[TracerProvider] = []
"""The providers of the modes' runs: flushed inside each measurement, shut down at the end."""


def traces() -> Instrumentation:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Dropped()))
    PROVIDERS.append(provider)
    return instrumentation(tracer_provider=provider)


def _flush() -> None:
    """Export what the modes' batch processors still hold (their CPU belongs to the run)."""
    while PROVIDERS:
        provider = PROVIDERS.pop()
        provider.force_flush()
        provider.shutdown()


MODES: dict[str, Callable[[], Instrumentation]] = {"off": lambda: OFF, "traces": traces}
"""Each mode's middlewares; ``off`` is the baseline every other mode is compared with."""


def _bodies(registry: Registry, count: int) -> list[str]:
    spec = registry.spec("OrderPlaced")
    return [
        encode_body(
            new_envelope(
                spec, _order(n), traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
            )
        )
        for n in range(count)
    ]


async def _consume(
    aws: AwsClients,
    topology: Topology,
    env: str,
    registry: Registry,
    count: int,
    otel: Instrumentation,
) -> float:
    """CPU seconds per message of a worker consuming ``count`` messages."""
    worker = Worker(
        aws,
        topology,
        env=env,
        base_dir=ROOT,
        options=WorkerOptions(wait_seconds=1, shutdown_grace=30),
        parts=WorkerParts(registry=registry, stats=Stats()),
        middleware=otel.consume,
        publish_middleware=otel.publish,
    )
    c0 = time.process_time()
    await worker.start()
    await _until(lambda: worker.stats.queue("orders").processed >= count)
    await worker.stop()
    _flush()
    return (time.process_time() - c0) / count


async def _publish(
    aws: AwsClients,
    topology: Topology,
    env: str,
    registry: Registry,
    count: int,
    otel: Instrumentation,
) -> float:
    """CPU seconds per event of ``publish_many`` of ``count`` events."""
    publisher = Publisher(aws, registry, topology, env, middleware=otel.publish)
    events = [_order(n) for n in range(count)]
    c0 = time.process_time()
    await publisher.publish_many(events, check=True)
    _flush()
    return (time.process_time() - c0) / count


async def compare(settings: Settings, count: int, loops: int, rounds: int) -> None:
    env = "o" + uuid.uuid4().hex[:6]
    topology = _topology("bench.worker:noop", loops)
    registry = Registry.from_topology(topology, ROOT)
    consume: dict[str, list[float]] = {mode: [] for mode in MODES}
    publish: dict[str, list[float]] = {mode: [] for mode in MODES}
    async with AwsClients(settings) as aws:
        await converge(aws, topology, env)
        url = (await aws.sqs.get_queue_url(QueueName=f"{env}-orders"))["QueueUrl"]
        bodies = _bodies(registry, count)
        for _ in range(rounds):
            for mode, make in MODES.items():
                await _fill(aws, url, bodies)
                consume[mode].append(await _consume(aws, topology, env, registry, count, make()))
        for _ in range(rounds):
            for mode, make in MODES.items():
                publish[mode].append(await _publish(aws, topology, env, registry, count, make()))
    print(f"1. worker CPU per message, {count} messages, {loops} pollers, {rounds} rounds")
    _report(consume)
    print(f"2. publish_many CPU per event, {count} events, {rounds} rounds")
    _report(publish)


def _report(results: dict[str, list[float]]) -> None:
    base = statistics.median(results["off"])
    for mode, values in results.items():
        median = statistics.median(values)
        ratio = "" if mode == "off" else f"   {median / base:5.2f}x of off (target <= 1.15x)"
        print(f"   {mode:<10} {median * 1e6:8.0f} us{ratio}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--loops", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    print(f"bench.otel  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs")
    with aws_settings() as (settings, _):
        asyncio.run(compare(settings, args.messages, args.loops, args.rounds))


if __name__ == "__main__":
    main()
