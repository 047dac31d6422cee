"""The Lambda entry point's cost, measured in one process and printed with ratios (no assertions).

An in-memory AWS (``bus.memory.MemoryAws``) holds a queue with N ``OrderPlaced`` messages, sent by
the ``Publisher``; they are received (every attribute) and turned into SQS events of 10 records,
as an event source mapping delivers them. Reported, per record:

- the baseline: decode the body and attributes, validate the event, call the handler directly;
- the entry point (``LambdaConsumer.handle``): the worker's pipeline (log context, in-process
  retry, the Settler) and the partial batch response, on the same records;
- their difference: the entry point's overhead beyond decode and validation (the issue's target
  is at most 50 us);
- the cold start, in a fresh process: ``import bus``, ``handler_for`` (topology, schemas,
  handlers), and the first invocation (opening the clients, reading the queue's attributes).

    .venv/bin/python -m bench.lambda_ [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.orders import OrderLine, OrderPlaced

ROOT = Path(__file__).resolve().parents[1]
ENV = "bench"
QUEUE = "work"
TOPOLOGY = """
name: benchlambda
queues:
  work: {visibility_timeout: 60}
events:
  OrderPlaced: {model: schemas.orders:OrderPlaced, publish_to: [{queue: work}]}
handlers:
  work:
    events: {OrderPlaced: "bench.lambda_:handle"}
"""
HANDLED = [0]
ROUNDS = 7
"""Rounds of the three measurements; the fastest of each is reported."""


async def handle(event: OrderPlaced) -> None:
    """The handler: counts what it is given."""
    HANDLED[0] += 1


def write_topology(folder: Path) -> Path:
    path = folder / "topology.yaml"
    path.write_text(TOPOLOGY)
    return path


async def records(aws: Any, topology: Any, n: int) -> list[dict[str, Any]]:
    """N events published to the queue, received back as SQS events of ten records."""
    from bus.aws_lambda import event_of
    from bus.publish import Publisher
    from bus.schema import Registry

    publisher = Publisher(aws, Registry.from_topology(topology, ROOT), topology, ENV)
    line = OrderLine(sku="sku-1", quantity=2, unit_price_cents=1_250)
    await publisher.publish_many(
        [
            OrderPlaced(
                order_id=f"o-{i}", customer_id="c-1", lines=[line], total_cents=2_500, country="DE"
            )
            for i in range(n)
        ],
        check=True,
    )
    url = (await aws.sqs.get_queue_url(QueueName=f"{ENV}-{QUEUE}"))["QueueUrl"]
    arn = f"arn:aws:sqs:{aws.region}:{(await aws.account()).account_id}:{ENV}-{QUEUE}"
    events = []
    while True:
        got = await aws.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        if not got.get("Messages"):
            return events
        events.append(event_of(got["Messages"], arn, aws.region))


async def direct(events: list[dict[str, Any]], registry: Any) -> float:
    """Seconds to decode, validate and handle every record, the handler called directly."""
    from bus.aws_lambda import received_of
    from bus.envelope import decode

    started = time.perf_counter()
    for event in events:
        for record in event["Records"]:
            msg = received_of(record)
            env = decode(msg.body, msg.attributes, message_id=msg.message_id).envelope
            await handle(registry.parse(env.type, env.version, env.data))
    return time.perf_counter() - started


async def pipeline(events: list[dict[str, Any]], consumer: Any) -> float:
    """Seconds for the worker's pipeline alone (``Processor.process``), one record after another."""
    from bus.aws_lambda import received_of

    process = consumer._processor.process
    started = time.perf_counter()
    for event in events:
        for record in event["Records"]:
            await process(received_of(record))
    return time.perf_counter() - started


async def through_entry(events: list[dict[str, Any]], consumer: Any) -> float:
    started = time.perf_counter()
    for event in events:
        response = await consumer.handle(event, None)
        assert not response["batchItemFailures"], response
    return time.perf_counter() - started


async def measure(n: int) -> tuple[float, float, float, int]:
    import structlog

    from bus.aws_lambda import LambdaConsumer
    from bus.memory import MemoryAws
    from bus.schema import Registry
    from bus.topology.apply import converge
    from bus.topology.load import load_topology
    from bus.worker import Worker, WorkerOptions, WorkerParts

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings up
    with tempfile.TemporaryDirectory() as folder:
        topology = load_topology(write_topology(Path(folder)), env=ENV)
    async with MemoryAws() as aws:
        await converge(aws, topology, ENV)
        registry = Registry.from_topology(topology, ROOT)
        worker = Worker(aws, topology, env=ENV, base_dir=ROOT, options=WorkerOptions(queues=(QUEUE,)),
                        parts=WorkerParts(registry=registry))  # fmt: skip
        consumer = await LambdaConsumer.open(worker, QUEUE)
        warm = await records(aws, topology, 200)
        await direct(warm, registry)
        await through_entry(warm, consumer)
        events = await records(aws, topology, n)
        count = sum(len(e["Records"]) for e in events)
        runs: list[tuple[float, float, float]] = []
        for _ in range(ROUNDS):  # interleaved: a load that comes and goes hits all three alike
            runs.append(
                (
                    await direct(events, registry),
                    await through_entry(events, consumer),
                    await pipeline(events, consumer),
                )
            )
    base, entry, worker_pipeline = (min(r[i] for r in runs) for i in range(3))
    return base, entry, worker_pipeline, count


COLD = """
import time
t0 = time.perf_counter()
import asyncio, json, sys
import bus
t1 = time.perf_counter()
from bus.memory import MemoryAws
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.load import load_topology
settings = Settings(env="bench", topology_path=sys.argv[1], region="us-east-1")
aws = MemoryAws(settings)
asyncio.run(converge(aws, load_topology(settings.topology_path, env="bench"), "bench"))
t2 = time.perf_counter()
handler = bus.handler_for("work", settings=settings, aws=aws)
t3 = time.perf_counter()
handler({"Records": []}, None)
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "handler_for": t3 - t2, "first": t4 - t3,
                  "cold_start": handler.cold_start}))
"""


def cold_start() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        path = write_topology(Path(folder))
        out = subprocess.run(
            [sys.executable, "-c", COLD, str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    if out.returncode:
        raise SystemExit(f"the cold start run failed:\n{out.stderr[-3000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(n: int) -> None:
    base, entry, worker_pipeline, count = asyncio.run(measure(n))
    cold = min((cold_start() for _ in range(3)), key=lambda c: c["cold_start"])
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    print(f"bench.lambda_  {now}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load {load:.1f}; {count:,} records in events of 10 (in-memory AWS)")  # fmt: skip
    per_base, per_entry = base / count * 1e6, entry / count * 1e6
    per_pipeline = worker_pipeline / count * 1e6
    print(f"   decode + validate + handler, called directly   {per_base:8.1f} us/record")
    print(f"   the worker's pipeline (Processor.process)      {per_pipeline:8.1f} us/record"
          f"   ratio {worker_pipeline / base:.2f}x")  # fmt: skip
    print(f"   through the entry point (LambdaConsumer)       {per_entry:8.1f} us/record"
          f"   ratio {entry / base:.2f}x")  # fmt: skip
    print(f"   entry point overhead beyond decode/validation  {per_entry - per_base:8.1f} us/record"
          "   (target <= 50)")  # fmt: skip
    print(
        f"   of which the Lambda layer (batch, lanes)       {per_entry - per_pipeline:8.1f} us/record"
    )
    print(f"   cold start: import bus                         {cold['import'] * 1000:8.1f} ms")
    print(f"   cold start: handler_for (topology, handlers)   {cold['handler_for'] * 1000:8.1f} ms")
    print(f"   cold start: first invocation (clients, queue)  {cold['first'] * 1000:8.1f} ms")
    print(f"   cold start: handler_for to ready (logged)      {cold['cold_start'] * 1000:8.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000)
    main(parser.parse_args().events)
