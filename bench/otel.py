"""What OpenTelemetry (traces, metrics, both) costs a worker and a publisher, in one process and
one run, printed as ratios against ``off`` and as microseconds added per message (no assertions).

1. The in-process consume path alone (decode, validate, the pipeline, queue the delete; no network,
   so its ratios are stricter than 3.'s): the messages of 3. (each with a ``traceparent``), best
   of 5 runs per mode.
2. The SDK's floor: what one SDK span and one light span (bus.otel.light: the consume span's
   attributes, started, given its outcome and ended in a tight loop), one SDK histogram record
   and one record of bus's merged histogram (bus.otel.histogram) cost here, beside what each mode
   adds per message; and spans in place: a bare SDK span, the same with the consume span's
   attributes, bus's consume span (light) and the same on the SDK's path, each added alone to the
   path of 1.
3. Worker CPU per message against the emulator: the same N ``OrderPlaced`` messages (each with a
   ``traceparent``, as a traced producer sends them) consumed by a bus worker with a no-op handler,
   once per mode of ``MODES``, the modes alternated over several rounds (each round starting
   with the next mode); the process CPU (this process only: the emulator runs in its own),
   medians, and the median of each round's ratio to that round's ``off`` ("by round"), each
   round's figure in brackets (the noise). Target: each mode <= 1.15x off.
4. ``publish_many`` CPU per event of N events to the queue, per mode, the same way (reported
   beside 3.: the issue's targets are the worker's, and only 3. prints them).

Modes (``MODES``): ``off`` is bus without the extra's middlewares; ``traces`` records every span
(bus's own on the light path of bus.otel.light, as ``bus worker`` makes them) through the SDK's
BatchSpanProcessor (the default sampler, parent-based always-on, as ``bus worker`` ships) into
an exporter that drops them (an exporter's own cost depends on where it
sends: not measured); ``metrics`` is the ``Metrics`` middleware with the Prometheus reader, as
``bus worker --metrics-port`` builds it; ``traces+metrics`` both; ``no-extra`` is what ``bus
worker`` adds when the ``otel`` extra is not installed (``opentelemetry`` made unimportable while
it builds its middlewares: nothing; target <= 1.02x, the noise between two identical runs).

    .venv/bin/python -m bench.otel [--messages N] [--loops K] [--rounds R] [--sdk] [--per-record]

``--sdk`` adds ``traces, SDK`` and ``t+m, SDK``: the same with bus's spans made by the SDK's
``Tracer.start_span`` instead of the light path (an A/B of bus.otel.light in the same rounds).
``--per-record`` adds ``metrics/record`` and ``t+m/record``: the same with the histograms recorded
through the SDK per record instead of merged (an A/B of bus.otel.histogram in the same rounds).

Starts its own LocalStack (bus.emulator) unless AWS_ENDPOINT_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from bench.emulated import aws_settings
from bench.worker import ROOT, _fill, _order, _topology, _until, in_process_path
from bus.aws import AwsClients
from bus.envelope import encode_body, new_envelope
from bus.middleware.consume import ConsumeMiddleware
from bus.middleware.publish import PublishMiddleware
from bus.publish import Publisher
from bus.schema import Registry
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.model import Topology
from bus.worker import Stats, Worker, WorkerOptions, WorkerParts

TARGETS = {"no-extra": 1.02}
"""Each mode's target ratio to ``off`` (the issue's: 1.15x unless named here)."""


class Dropped(SpanExporter):
    """Takes the spans and drops them."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


@dataclass
class Mode:
    """One mode's middlewares, and what to do after each measured run (inside the measurement:
    flushing the spans the batch processor still holds)."""

    consume: Sequence[ConsumeMiddleware] = ()
    publish: Sequence[PublishMiddleware] = ()
    after: list[Callable[[], None]] = field(default_factory=list)

    def finish(self) -> None:
        for step in self.after:
            step()


def _traces(light: bool = True) -> Mode:
    from bus.otel import instrumentation

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Dropped()))
    otel = instrumentation(tracer_provider=provider, light=light)

    def flush() -> None:  # export what the batch processor still holds: its CPU is the run's
        provider.force_flush()
        provider.shutdown()

    return Mode(otel.consume, otel.publish, [flush])


def _metrics(merge: bool = True) -> Mode:
    from bus.otel.metrics import Metrics, meter_provider
    from bus.otel.prometheus import PrometheusReader

    reader = PrometheusReader()
    metrics = Metrics(meter_provider(reader, service="bench", environ={}), merge=merge)
    return Mode([metrics], [metrics])


def _both(merge: bool = True) -> Mode:
    traces, metrics = _traces(), _metrics(merge)
    return Mode(
        [*traces.consume, *metrics.consume], [*traces.publish, *metrics.publish], traces.after
    )


def _both_sdk() -> Mode:
    traces, metrics = _traces(light=False), _metrics()
    return Mode(
        [*traces.consume, *metrics.consume], [*traces.publish, *metrics.publish], traces.after
    )


SDK_MODES: dict[str, Callable[[], Mode]] = {
    "traces, SDK": lambda: _traces(light=False),
    "t+m, SDK": _both_sdk,
}
"""With ``--sdk``: ``traces`` and ``traces+metrics`` with every span made by the SDK's
``Tracer.start_span`` (``light=False``), measured in the same rounds (A/B of bus.otel.light)."""

PER_RECORD_MODES: dict[str, Callable[[], Mode]] = {
    "metrics/record": lambda: _metrics(merge=False),
    "t+m/record": lambda: _both(merge=False),
}
"""With ``--per-record``: ``metrics`` and ``traces+metrics`` with the histograms recorded through
the SDK per record (``Metrics(merge=False)``, bus.otel.histogram.Batched) instead of merged
(A/B of bus.otel.histogram.Merged)."""


def _no_extra() -> Mode:
    """The middlewares ``bus worker`` adds (no ``--metrics-port``, no OTLP variables) when the
    extra is not installed: its imports made to fail while it builds them."""
    from bus.cli.worker import _metrics as cli_metrics
    from bus.cli.worker import _traces as cli_traces

    hidden = {n: sys.modules.pop(n) for n in list(sys.modules) if "opentelemetry" in n}
    hidden.update({n: sys.modules.pop(n) for n in list(sys.modules) if n.startswith("bus.otel")})
    sys.modules["opentelemetry"] = None  # type: ignore[assignment]
    try:
        metrics, _ = cli_metrics(None, "bench")
        traces, _ = cli_traces("bench")
    finally:
        del sys.modules["opentelemetry"]
        sys.modules.update(hidden)
    consume = [*([metrics] if metrics else []), *(traces.consume if traces else ())]
    return Mode(consume, [*([metrics] if metrics else []), *(traces.publish if traces else ())])


MODES: dict[str, Callable[[], Mode]] = {
    "off": Mode,
    "traces": _traces,
    "metrics": _metrics,
    "traces+metrics": _both,
    "no-extra": _no_extra,
}
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
    aws: AwsClients, topology: Topology, env: str, registry: Registry, count: int, mode: Mode
) -> float:
    """CPU seconds per message of a started worker consuming ``count`` messages (run as ``bus
    worker`` runs it: its start-up heap frozen; the start itself is not counted)."""
    worker = Worker(
        aws,
        topology,
        env=env,
        base_dir=ROOT,
        options=WorkerOptions(wait_seconds=1, shutdown_grace=30, freeze_startup=True),
        parts=WorkerParts(registry=registry, stats=Stats()),
        middleware=mode.consume,
        publish_middleware=mode.publish,
    )
    await worker.start()
    c0 = time.process_time()
    await _until(lambda: worker.stats.queue("orders").processed >= count)
    await worker.stop()
    mode.finish()
    return (time.process_time() - c0) / count


async def _publish(
    aws: AwsClients, topology: Topology, env: str, registry: Registry, count: int, mode: Mode
) -> float:
    """CPU seconds per event of ``publish_many`` of ``count`` events."""
    publisher = Publisher(aws, registry, topology, env, middleware=mode.publish)
    events = [_order(n) for n in range(count)]
    c0 = time.process_time()
    await publisher.publish_many(events, check=True)
    mode.finish()
    return (time.process_time() - c0) / count


async def against_aws(settings: Settings, count: int, loops: int, rounds: int) -> None:
    env = "o" + uuid.uuid4().hex[:6]
    topology = _topology("bench.worker:noop", loops)
    registry = Registry.from_topology(topology, ROOT)
    consume: dict[str, list[float]] = {name: [] for name in MODES}
    publish: dict[str, list[float]] = {name: [] for name in MODES}
    async with AwsClients(settings) as aws:
        await converge(aws, topology, env)
        url = (await aws.sqs.get_queue_url(QueueName=f"{env}-orders"))["QueueUrl"]
        bodies = _bodies(registry, count)
        for r in range(rounds):
            for name in _rotated(r):
                await _fill(aws, url, bodies)
                mode = MODES[name]()
                consume[name].append(await _consume(aws, topology, env, registry, count, mode))
        for r in range(rounds):
            for name in _rotated(r):
                mode = MODES[name]()
                publish[name].append(await _publish(aws, topology, env, registry, count, mode))
    print(f"3. worker CPU per message, {count} messages, {loops} pollers, {rounds} rounds, medians")
    _report(
        {name: statistics.median(values) for name, values in consume.items()},
        consume,
        targeted=True,
    )
    print(
        f"4. publish_many CPU per event, {count} events, {rounds} rounds, medians (reported beside"
        " 3., whose figures the targets are for)"
    )
    _report({name: statistics.median(values) for name, values in publish.items()}, publish)


def _rotated(round_: int) -> list[str]:
    """The modes in the order of round ``round_``: each round starts one further along, so that
    no mode always runs first (after the fill) or right after another."""
    names = list(MODES)
    shift = round_ % len(names)
    return names[shift:] + names[:shift]


async def _in_process(count: int, middleware: Sequence[ConsumeMiddleware]) -> float:
    """CPU seconds per message of decode + validate + ``middleware`` + handler + queue the
    delete, SQS calls left out; each message with a ``traceparent``, as in 3."""
    registry = Registry.from_topology(_topology("bench.worker:noop", 1), ROOT)
    return await in_process_path(count, middleware, _bodies(registry, count))


async def in_process(count: int, rounds: int) -> None:
    times: dict[str, list[float]] = {name: [] for name in MODES}
    for r in range(rounds):
        for name in _rotated(r):
            mode = MODES[name]()
            times[name].append(await _in_process(count, mode.consume))
            mode.finish()
    print(
        f"1. the in-process consume path alone (no network), {count} messages with a traceparent,"
        f" best of {rounds} (stricter than 3., whose figures the targets are for)"
    )
    _report({name: min(values) for name, values in times.items()})


class _SdkSpan:
    """A consume middleware doing only the SDK's part of the consume span: one CONSUMER span per
    delivery started before the rest of the pipeline and ended after it (through a
    BatchSpanProcessor), with the consume span's attributes or none; not made current, no settle
    hook. Run in the in-process path, it shows what the SDK alone costs there."""

    def __init__(self, attributes: bool) -> None:
        self.provider = TracerProvider()
        self.provider.add_span_processor(BatchSpanProcessor(Dropped()))
        self.tracer = self.provider.get_tracer("bench")
        self.attributes = attributes
        self.shared = {
            "messaging.system": "aws_sqs",
            "messaging.destination.name": "orders",
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
        }

    async def __call__(self, delivery: Any, call_next: Callable[[Any], Any]) -> None:
        from opentelemetry.trace import SpanKind

        attributes = None
        if self.attributes:
            env = delivery.envelope
            attributes = {
                **self.shared,
                "messaging.message.id": delivery.message.message_id,
                "bus.attempt": delivery.attempt,
                "bus.event.id": env.id,
                "bus.event.type": env.type,
            }
        span = self.tracer.start_span("process orders", None, SpanKind.CONSUMER, attributes)
        await call_next(delivery)
        if self.attributes:
            span.set_attribute("bus.outcome", "handled")
        span.end()


def _sdk_span(attributes: bool) -> Mode:
    middleware = _SdkSpan(attributes)
    return Mode([middleware], after=[middleware.provider.shutdown])


IN_PLACE: dict[str, Callable[[], Mode]] = {
    "off": Mode,
    "bare SDK span": lambda: _sdk_span(False),
    "SDK span, attributes": lambda: _sdk_span(True),
    "bus's consume span": _traces,
    "the same, SDK path": lambda: _traces(light=False),
}
"""The SDK's part of the consume span alone, and all of it (``traces``), in the in-process path."""


async def in_place(count: int, rounds: int) -> None:
    """What the SDK's span costs in the in-process path (not in a tight loop), beside bus's
    consume span: each against ``off``, alternated, best of ``rounds``."""
    times: dict[str, list[float]] = {name: [] for name in IN_PLACE}
    names = list(IN_PLACE)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            mode = IN_PLACE[name]()
            times[name].append(await _in_process(count, mode.consume))
            mode.finish()
    base = min(times["off"])
    print(f"   in place: added to the in-process path of 1. alone, best of {rounds}")
    for name, values in list(times.items())[1:]:
        print(f"   {name:<22} {(min(values) - base) * 1e6:+6.1f} us")


def floor(count: int = 20_000) -> None:
    """What the SDK itself costs: one CONSUMER span with the consume span's attributes, started,
    given its outcome and ended (through a BatchSpanProcessor); one histogram record."""
    from opentelemetry import context, trace
    from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider

    from bus.otel.histogram import histogram as bus_histogram
    from bus.otel.light import LightSpan, LightTracer
    from bus.otel.metrics import DURATION_BUCKETS
    from bus.otel.prometheus import PrometheusReader

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Dropped()))
    tracer = provider.get_tracer("bench")
    remote = trace.SpanContext(1 << 100, 1 << 50, True, trace.TraceFlags(1))
    parent = trace.set_span_in_context(trace.NonRecordingSpan(remote), context.Context())
    attributes: dict[str, str | int] = {
        "messaging.system": "aws_sqs",
        "messaging.destination.name": "orders",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.message.id": str(uuid.uuid4()),
        "bus.attempt": 1,
        "bus.event.id": str(uuid.uuid4()),
        "bus.event.type": "OrderPlaced",
    }

    def span() -> None:
        s = tracer.start_span("process orders", parent, trace.SpanKind.CONSUMER, attributes)
        s.set_attribute("bus.outcome", "handled")
        s.end()

    light = LightTracer(tracer)

    def light_span() -> None:  # bus.otel.light: what the consume span is made with
        s = light.start("process orders", parent, trace.SpanKind.CONSUMER, {**attributes})
        assert isinstance(s, LightSpan)
        s.put("bus.outcome", "handled")
        s.end()

    histogram = (
        MeterProvider(
            metric_readers=[PrometheusReader()], exemplar_filter=AlwaysOffExemplarFilter()
        )
        .get_meter("bench")
        .create_histogram("d", "s", explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
    )
    labels = {
        "messaging.system": "aws_sqs",
        "messaging.destination.name": "orders",
        "bus.event.type": "OrderPlaced",
        "bus.outcome": "handled",
    }

    def record() -> None:
        histogram.record(0.003, labels)

    merged = bus_histogram(histogram)
    empty = context.Context()
    merged.record(0.003, labels, empty)  # the first record: through the SDK

    def merged_record() -> None:  # bus.otel.histogram: what Metrics records with
        merged.record(0.003, labels, empty)

    print(f"2. the SDK's floor, tight loops of {count}, best of 5")
    calls = (
        ("one SDK span", span),
        ("one light span", light_span),
        ("one histogram", record),
        ("one merged record", merged_record),
    )
    for what, call in calls:
        print(f"   {what:<22} {_best(call, count) * 1e6:6.1f} us")
    provider.shutdown()


def _best(call: Callable[[], Any], count: int) -> float:
    best = float("inf")
    for _ in range(5):
        c0 = time.process_time()
        for _ in range(count):
            call()
        best = min(best, (time.process_time() - c0) / count)
    return best


def _report(
    results: dict[str, float],
    rounds: dict[str, list[float]] | None = None,
    *,
    targeted: bool = False,
) -> None:
    """Each mode against ``off``; with ``rounds``, also the median of each round's ratio to that
    round's ``off`` (the runs nearest in time: steadier when the machine's load moves) and each
    round's figure (to see the noise). ``targeted``: the issue's target is shown beside each
    ratio (the worker's figures of 3. alone: the others are reported beside them)."""
    base = results["off"]
    for name, seconds in results.items():
        line = f"   {name:<15} {seconds * 1e6:7.1f} us"
        if name != "off":
            added = (seconds - base) * 1e6
            line += f"  {seconds / base:5.2f}x of off"
            line += f" (target <= {TARGETS.get(name, 1.15)}x)," if targeted else ","
            line += f" {added:+6.1f} us"
            if rounds is not None:
                ratios = [v / o for v, o in zip(rounds[name], rounds["off"], strict=True)]
                line += f"; by round {statistics.median(ratios):4.2f}x"
        if rounds is not None:
            line += "  [" + " ".join(f"{v * 1e6:.0f}" for v in rounds[name]) + "]"
        print(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--loops", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sdk", action="store_true", help="add the SDK-path modes (SDK_MODES)")
    parser.add_argument(
        "--per-record", action="store_true", help="add the per-record modes (PER_RECORD_MODES)"
    )
    args = parser.parse_args(argv)
    if args.sdk:
        MODES.update(SDK_MODES)
    if args.per_record:
        MODES.update(PER_RECORD_MODES)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"bench.otel  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load {load}")
    asyncio.run(in_process(args.messages, 5))
    floor()
    asyncio.run(in_place(args.messages, 5))
    with aws_settings() as (settings, _):
        asyncio.run(against_aws(settings, args.messages, args.loops, args.rounds))
    print(f"   load average at the end: {'/'.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
