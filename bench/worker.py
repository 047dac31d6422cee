"""Worker benchmarks, measured in one process and printed as ratios (no assertions).

1. Throughput: the same queue filled with the same N messages (1 KiB OrderPlaced envelopes),
   consumed by a bare aiobotocore receive(10) + DeleteMessageBatch loop and by a bus worker with a
   no-op handler (run as ``bus worker`` runs it, its start-up heap frozen; timed from after its
   start to after its stop), with the same concurrency (K receive loops / K pollers, 10 messages each) and the
   same ReceiveMessage arguments (the worker's four system attributes and every message
   attribute); alternated over several rounds, medians (min-max) printed, and their ratio.
2. Framework CPU per message: the process CPU of a worker run minus that of a bare-loop run, per
   message; and the in-process path alone (decode, validate, dispatch, queue the delete) timed
   without any network call.
3. Resident memory with 10,000 messages flowing through a worker, in a fresh process (nothing
   else ran in it): RSS once the worker is built (handlers imported, clients connected), its peak
   while the messages flow, and what is left when they are done.
4. End-to-end latency publish -> handler start (Publisher.publish to the queue, p50 / p99).

    .venv/bin/python -m bench.worker [--messages N] [--loops K] [--rounds R]

Starts its own LocalStack (bus.emulator) unless AWS_ENDPOINT_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from bench.emulated import aws_settings
from bus.aws import AwsClients
from bus.envelope import encode_body, new_envelope
from bus.schema import Registry
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.model import Topology
from bus.worker import Stats, Worker, WorkerOptions, WorkerParts
from bus.worker.message import Received
from bus.worker.sqs import SYSTEM_ATTRIBUTES
from schemas.orders import OrderLine, OrderPlaced

ROOT = Path(__file__).resolve().parents[1]
LATENCIES: list[float] = []


async def noop(event: OrderPlaced) -> None:
    """The benchmark handler: does nothing."""


async def timed(event: OrderPlaced, ctx: Any) -> None:
    """Records publish -> handler start."""
    LATENCIES.append(time.time() - ctx.envelope.time.timestamp())


def _topology(handler: str, loops: int) -> Topology:
    return Topology.model_validate(
        {
            "name": "benchw",
            "queues": {"orders": {"visibility_timeout": 60}},
            "events": {
                "OrderPlaced": {
                    "model": "schemas.orders:OrderPlaced",
                    "publish_to": [{"queue": "orders"}],
                }
            },
            "handlers": {
                "orders": {
                    "events": {"OrderPlaced": handler},
                    "pollers": loops,
                    "concurrency": 10 * loops,
                }
            },
        }
    )


def _order(n: int) -> OrderPlaced:
    lines = [
        OrderLine(sku=f"sku-{n}-{i:02d}", quantity=1 + i, unit_price_cents=999) for i in range(12)
    ]
    total = sum(line.quantity * line.unit_price_cents for line in lines)
    return OrderPlaced(
        order_id=f"o-{n}", customer_id=f"c-{n % 97}", lines=lines, total_cents=total, country="DE"
    )


def _bodies(registry: Registry, count: int) -> list[str]:
    spec = registry.spec("OrderPlaced")
    return [encode_body(new_envelope(spec, _order(n))) for n in range(count)]


async def _until(check: Callable[[], bool], every: float = 0.01) -> None:
    while True:
        if check():
            return
        await asyncio.sleep(every)


def _rss_kib(field: str = "VmRSS") -> int:
    """This process's resident memory (``VmHWM``: its peak so far), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


async def _fill(aws: AwsClients, url: str, bodies: list[str]) -> None:
    attributes = {"event_type": {"DataType": "String", "StringValue": "OrderPlaced"}}
    sem = asyncio.Semaphore(8)

    async def send(chunk: list[str]) -> None:
        async with sem:
            entries = [
                {"Id": str(i), "MessageBody": b, "MessageAttributes": attributes}
                for i, b in enumerate(chunk)
            ]
            answer = await aws.sqs.send_message_batch(QueueUrl=url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"fill failed: {answer['Failed'][:1]}")

    await asyncio.gather(*(send(bodies[i : i + 10]) for i in range(0, len(bodies), 10)))


async def _bare(aws: AwsClients, url: str, count: int, loops: int) -> None:
    """The ceiling: K loops of receive(10) + DeleteMessageBatch, nothing else; it asks for what the
    worker asks for (``bus.worker.sqs``), through the same client (``AwsClients``: its lighter
    ReceiveMessage parse and cheaper calls), so the difference is the worker's own overhead."""
    done = 0

    async def loop() -> None:
        nonlocal done
        while done < count:
            answer = await aws.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageSystemAttributeNames=SYSTEM_ATTRIBUTES,
                MessageAttributeNames=["All"],
            )
            messages = answer.get("Messages", [])
            if not messages:
                continue
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ]
            await aws.sqs.delete_message_batch(QueueUrl=url, Entries=entries)
            done += len(messages)

    await asyncio.gather(*(loop() for _ in range(loops)))


def _worker(aws: AwsClients, topology: Topology, env: str, registry: Registry) -> Worker:
    return Worker(
        aws,
        topology,
        env=env,
        base_dir=ROOT,
        options=WorkerOptions(wait_seconds=1, shutdown_grace=30, freeze_startup=True),
        parts=WorkerParts(registry=registry, stats=Stats()),
    )  # as ``bus worker`` runs it


async def _run_worker(
    aws: AwsClients, topology: Topology, env: str, registry: Registry, count: int
) -> tuple[float, float]:
    """Wall and CPU seconds a started worker takes to consume ``count`` messages and stop (its
    start, where it looks its queue up and freezes its heap, is not counted)."""
    worker = _worker(aws, topology, env, registry)
    stats = worker.stats
    await worker.start()
    t0, c0 = time.perf_counter(), time.process_time()
    await _until(lambda: stats.queue("orders").processed >= count)
    await worker.stop()
    return time.perf_counter() - t0, time.process_time() - c0


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):8.0f} msg/s  (min {min(values):.0f}, max {max(values):.0f})"


async def throughput(settings: Settings, count: int, loops: int, rounds: int) -> None:
    env = "b" + uuid.uuid4().hex[:6]
    topology = _topology("bench.worker:noop", loops)
    registry = Registry.from_topology(topology, ROOT)
    async with AwsClients(settings) as aws:
        await converge(aws, topology, env)
        url = (await aws.sqs.get_queue_url(QueueName=f"{env}-orders"))["QueueUrl"]
        bodies = _bodies(registry, count)
        bare_rates: list[float] = []
        bus_rates: list[float] = []
        bare_cpu: list[float] = []
        bus_cpu: list[float] = []
        for _ in range(rounds):
            await _fill(aws, url, bodies)
            t0, c0 = time.perf_counter(), time.process_time()
            await _bare(aws, url, count, loops)
            bare_rates.append(count / (time.perf_counter() - t0))
            bare_cpu.append((time.process_time() - c0) / count * 1e6)
            await _fill(aws, url, bodies)
            wall, cpu = await _run_worker(aws, topology, env, registry, count)
            bus_rates.append(count / wall)
            bus_cpu.append(cpu / count * 1e6)
    ratio = statistics.median(bus_rates) / statistics.median(bare_rates)
    print(f"1. consume throughput, {count} messages, {loops} loops x 10, {rounds} rounds")
    print(f"   bare aiobotocore loop    {_summary(bare_rates)}")
    print(f"   bus worker (no-op)       {_summary(bus_rates)}")
    print(f"   ratio bus / bare         {ratio:8.2f}x   (target >= 0.9x)")
    extra = statistics.median(bus_cpu) - statistics.median(bare_cpu)
    print("2. CPU per message (process CPU / messages, same run)")
    print(f"   bare loop                {statistics.median(bare_cpu):8.0f} us")
    print(f"   bus worker               {statistics.median(bus_cpu):8.0f} us")
    print(f"   framework overhead       {extra:8.0f} us")


async def passthrough(delivery: Any, call_next: Any) -> None:
    """A no-op consume middleware: what one added layer costs."""
    await call_next(delivery)


async def _in_process_path(count: int, middlewares: int = 0) -> float:
    """decode + validate + the middlewares + handler + queue the delete, SQS calls left out;
    ``middlewares`` no-op middlewares added (microseconds per message)."""
    return await in_process_path(count, [passthrough] * middlewares) * 1e6


async def in_process_path(
    count: int, middleware: Sequence[Any], bodies: Sequence[str] | None = None
) -> float:
    """CPU seconds per message of the worker's in-process path (decode, validate, ``middleware``
    and bus's own, the no-op handler, queue the delete; SQS calls left out): ``bench.otel`` and
    the middleware cost use it (``bodies``: the messages' bodies, ``OrderPlaced`` by default)."""
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
    ops = QueueOps(None, info.url)  # type: ignore[arg-type]  # never called: see below
    log = structlog.get_logger("bench").bind(queue="orders")  # as the consumer passes it
    acker = Acker(ops, log, linger=3600)
    scope = QueueScope(info, binding, Stats().queue("orders"), log)
    settler = Settler(scope, ops, None, acker, Heartbeat(ops, 30, log))
    stack = consume_stack(scope, list(middleware), MemoryStore())
    processor = Processor(scope, settler, registry, None, stack)
    attributes = {"event_type": {"DataType": "String", "StringValue": "OrderPlaced"}}
    messages = [
        Received(f"m{n}", f"r{n}", body, attributes, {"ApproximateReceiveCount": "1"})
        for n, body in enumerate(_bodies(registry, count) if bodies is None else bodies)
    ]
    c0 = time.process_time()
    for n, msg in enumerate(messages):
        await processor.process(msg)
        if n % 9 == 0:  # the acker would send these ten: drop them instead of calling SQS
            acker._pending.clear()
    return (time.process_time() - c0) / count


async def middleware_cost(count: int, layers: int = 10, tries: int = 3) -> tuple[float, float]:
    """CPU microseconds per message of the in-process path, and what each of ``layers`` added
    no-op middlewares adds to it (best of ``tries`` runs each, alternated)."""
    bare: list[float] = []
    more: list[float] = []
    for _ in range(tries):
        bare.append(await _in_process_path(count))
        more.append(await _in_process_path(count, layers))
    return min(bare), (min(more) - min(bare)) / layers


async def cpu_path(count: int) -> None:
    layers = 10
    path, each = await middleware_cost(count, layers)
    print(f"   in-process path alone    {path:8.0f} us  (decode, validate, pipeline, ack)")
    print(
        f"   each no-op middleware    {each:8.2f} us  (target <= 5 us; {layers} added, best of 3)"
    )


async def memory(settings: Settings, count: int, loops: int) -> None:
    """Fill a queue here, then let a worker in a fresh process consume it (``_memory_child``)."""
    env = "m" + uuid.uuid4().hex[:6]
    topology = _topology("bench.worker:noop", loops)
    registry = Registry.from_topology(topology, ROOT)
    async with AwsClients(settings) as aws:
        await converge(aws, topology, env)
        url = (await aws.sqs.get_queue_url(QueueName=f"{env}-orders"))["QueueUrl"]
        await _fill(aws, url, _bodies(registry, count))
    child_env = {**os.environ, "AWS_ENDPOINT_URL": str(settings.endpoint_url)}
    if settings.region:
        child_env["AWS_REGION"] = settings.region
    args = [sys.executable, "-m", "bench.worker", "--memory-child", env, str(count), str(loops)]
    done = await asyncio.to_thread(
        subprocess.run, args, cwd=ROOT, env=child_env, capture_output=True, text=True, check=True
    )
    kib = json.loads(done.stdout.splitlines()[-1])
    before, peak, after = (kib[k] / 1024 for k in ("before", "peak", "after"))
    print(f"3. resident memory, {count} messages through a worker (a fresh process)")
    print(
        f"   built {before:6.1f} MiB, peak {peak:6.1f} MiB (growth {peak - before:5.1f} MiB), "
        f"after {after:6.1f} MiB"
    )


async def _memory_child(env: str, count: int, loops: int) -> None:
    """In the fresh process: RSS once the worker is built, its peak (the kernel's high-water mark:
    no sample missed), and after ``count`` messages flowed; printed as one JSON line."""
    topology = _topology("bench.worker:noop", loops)
    registry = Registry.from_topology(topology, ROOT)
    async with AwsClients(Settings.from_env()) as aws:
        worker = _worker(aws, topology, env, registry)
        stats = worker.stats
        await aws.sqs.get_queue_url(QueueName=f"{env}-orders")  # the client is connected
        before = _rss_kib()
        await worker.start()
        await _until(lambda: stats.queue("orders").processed >= count, every=0.05)
        await worker.stop()
        after = _rss_kib()
    print(json.dumps({"before": before, "peak": _rss_kib("VmHWM"), "after": after}))


async def latency(settings: Settings, count: int) -> None:
    from bus.publish import Publisher

    env = "l" + uuid.uuid4().hex[:6]
    topology = _topology("bench.worker:timed", 1)
    registry = Registry.from_topology(topology, ROOT)
    import bench.worker as handlers  # the module the worker imported the handler from

    handlers.LATENCIES.clear()
    async with AwsClients(settings) as aws:
        await converge(aws, topology, env)
        publisher = Publisher(aws, registry, topology, env)
        worker = Worker(aws, topology, env=env, base_dir=ROOT, parts=WorkerParts(registry=registry))
        await worker.start()
        for n in range(count):
            await publisher.publish(_order(n))
            await asyncio.sleep(0.02)
        await _until(lambda: len(handlers.LATENCIES) >= count)
        await worker.stop(grace=5)
    values = sorted(v * 1000 for v in handlers.LATENCIES)
    p50 = values[len(values) // 2]
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    print(f"4. latency publish -> handler start, {count} events one at a time (long poll 20 s)")
    print(f"   p50 {p50:6.1f} ms, p99 {p99:6.1f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--loops", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-messages", type=int, default=10_000)
    parser.add_argument("--latency-events", type=int, default=200)
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    if args.memory_child:
        env, count, loops = args.memory_child
        asyncio.run(_memory_child(env, int(count), int(loops)))
        return
    print(f"bench.worker  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs")
    with aws_settings() as (settings, _):
        asyncio.run(throughput(settings, args.messages, args.loops, args.rounds))
        asyncio.run(cpu_path(2_000))
        asyncio.run(memory(settings, args.memory_messages, args.loops))
        asyncio.run(latency(settings, args.latency_events))


if __name__ == "__main__":
    main()
