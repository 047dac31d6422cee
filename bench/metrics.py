"""What metrics cost a worker, measured in one run and printed as ratios (no assertions).

1. Worker CPU per message against the emulator: the same N messages consumed by a worker without
   metrics and by one with the ``Metrics`` middleware (an SDK meter provider with the Prometheus
   reader, as ``bus worker --metrics-port`` builds it), alternated over several rounds; the
   process CPU per message (medians) and their ratio (target: metrics on <= 1.15x off).
2. The in-process path alone (decode, validate, pipeline, queue the delete; no network, so the
   ratio is stricter than 1.): without metrics, with metrics, and as ``bus worker`` builds it
   when the ``otel`` extra is missing (``opentelemetry`` made unimportable: nothing is added to
   the pipeline; target <= 1.02x, the noise between two identical runs).

    .venv/bin/python -m bench.metrics [--messages N] [--rounds R]

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
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from bench.emulated import aws_settings
from bench.worker import _bodies, _fill, _topology, _until
from bus.aws import AwsClients
from bus.middleware.consume import ConsumeMiddleware
from bus.schema import Registry
from bus.settings import Settings
from bus.topology.apply import converge
from bus.worker import Stats, Worker, WorkerOptions
from bus.worker.message import Received

ROOT = Path(__file__).resolve().parents[1]


def _metrics() -> Any:
    from bus.otel.metrics import Metrics, meter_provider
    from bus.otel.prometheus import PrometheusReader

    reader = PrometheusReader()
    metrics = Metrics(meter_provider(reader, service="bench", environ={}))
    return metrics, reader


def _without_extra() -> Sequence[ConsumeMiddleware]:
    """The middlewares ``bus worker`` adds with no ``--metrics-port``, no OTLP variables and
    the extra not installed (its import made to fail)."""
    from bus.cli.worker import _metrics as cli_metrics

    hidden = {name: sys.modules.pop(name) for name in list(sys.modules) if "opentelemetry" in name}
    hidden.update({name: sys.modules.pop(name) for name in list(sys.modules) if "bus.otel" in name})
    sys.modules["opentelemetry"] = None  # type: ignore[assignment]
    try:
        metrics, _ = cli_metrics(None, "bench")
    finally:
        del sys.modules["opentelemetry"]
        sys.modules.update(hidden)
    return [metrics] if metrics is not None else []


async def _run(
    aws: AwsClients, env: str, registry: Registry, count: int, middleware: Sequence[Any]
) -> float:
    topology = _topology("bench.worker:noop", 4)
    worker = Worker(
        aws,
        topology,
        env=env,
        base_dir=ROOT,
        registry=registry,
        options=WorkerOptions(wait_seconds=1, shutdown_grace=30),
        stats=Stats(),
        middleware=middleware,
    )
    c0 = time.process_time()
    await worker.start()
    await _until(lambda: worker.stats.queue("orders").processed >= count)
    await worker.stop()
    return (time.process_time() - c0) / count * 1e6


async def worker_cpu(settings: Settings, count: int, rounds: int) -> None:
    env = "x" + uuid.uuid4().hex[:6]
    topology = _topology("bench.worker:noop", 4)
    registry = Registry.from_topology(topology, ROOT)
    metrics, reader = _metrics()
    off: list[float] = []
    on: list[float] = []
    async with AwsClients(settings) as aws:
        await converge(aws, topology, env)
        url = (await aws.sqs.get_queue_url(QueueName=f"{env}-orders"))["QueueUrl"]
        bodies = _bodies(registry, count)
        for _ in range(rounds):
            await _fill(aws, url, bodies)
            off.append(await _run(aws, env, registry, count, ()))
            await _fill(aws, url, bodies)
            on.append(await _run(aws, env, registry, count, [metrics]))
    assert "bus_messages_handled_total" in reader.render()  # the metrics were recorded
    ratio = statistics.median(on) / statistics.median(off)
    print(f"1. worker CPU per message, {count} messages, {rounds} rounds (emulator)")
    print(f"   metrics off              {statistics.median(off):8.0f} us")
    print(f"   metrics on               {statistics.median(on):8.0f} us")
    print(f"   ratio on / off           {ratio:8.3f}x   (target <= 1.15x)")


async def _in_process(count: int, middleware: Sequence[Any]) -> float:
    """decode + validate + the middlewares + handler + queue the delete, SQS calls left out."""
    from bus.middleware.idempotency import MemoryStore
    from bus.worker.acker import Acker
    from bus.worker.handling import Processor
    from bus.worker.heartbeat import Heartbeat
    from bus.worker.loader import load_bindings
    from bus.worker.queues import QueueInfo
    from bus.worker.scope import QueueScope
    from bus.worker.settle import Settler
    from bus.worker.sqs import QueueOps
    from bus.worker.stack import consume_stack

    topology = _topology("bench.worker:noop", 1)
    registry = Registry.from_topology(topology, ROOT)
    (binding,) = load_bindings(topology, ROOT)
    info = QueueInfo("orders", "orders", "local://orders", fifo=False, visibility_timeout=30)
    ops = QueueOps(None, info.url)  # type: ignore[arg-type]  # never called
    log = structlog.get_logger("bench").bind(queue="orders")
    acker = Acker(ops, log, linger=3600)
    scope = QueueScope(info, binding, Stats().queue("orders"), log)
    settler = Settler(scope, ops, None, acker, Heartbeat(ops, 30, log))
    processor = Processor(
        scope, settler, registry, None, consume_stack(scope, middleware, MemoryStore())
    )
    attributes = {"event_type": {"DataType": "String", "StringValue": "OrderPlaced"}}
    messages = [
        Received(f"m{n}", f"r{n}", body, attributes, {"ApproximateReceiveCount": "1"})
        for n, body in enumerate(_bodies(registry, count))
    ]
    c0 = time.process_time()
    for n, msg in enumerate(messages):
        await processor.process(msg)
        if n % 9 == 0:
            acker._pending.clear()
    return (time.process_time() - c0) / count * 1e6


async def in_process(count: int, rounds: int) -> None:
    metrics, _ = _metrics()
    variants: dict[str, Sequence[Any]] = {
        "off": (),
        "on": [metrics],
        "no extra": _without_extra(),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, middleware in variants.items():
            times[name].append(await _in_process(count, middleware))
    best = {name: min(values) for name, values in times.items()}
    print(f"2. the in-process path alone, {count} messages, best of {rounds}")
    print(f"   metrics off              {best['off']:8.1f} us")
    print(f"   metrics on               {best['on']:8.1f} us  ({best['on'] / best['off']:.3f}x)")
    print(
        f"   otel extra missing       {best['no extra']:8.1f} us  "
        f"({best['no extra'] / best['off']:.3f}x, target <= 1.02x; "
        f"{len(variants['no extra'])} middlewares added)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    print(f"bench.metrics  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs")
    asyncio.run(in_process(2_000, 5))
    with aws_settings() as (settings, _):
        asyncio.run(worker_cpu(settings, args.messages, args.rounds))


if __name__ == "__main__":
    main()
