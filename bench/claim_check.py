"""Claim-check benchmark: publish and consume throughput of 1 MiB events, printed as ratios.

Publish: ``Publisher.publish_many`` of N events of about 1 MiB to a queue (each stored in S3 by the
claim check, up to 8 uploads at once, a pointer sent), against N ``PutObject`` calls of the same
size one after another. Consume: a ``Worker`` handling the N
pointers (each payload read from S3, decoded and validated), against N ``GetObject`` calls one after
another. No assertions: the numbers and their ratios are the result.

    .venv/bin/python -m bench.claim_check [--events N] [--size BYTES]

Starts its own LocalStack (bus.emulator) unless AWS_ENDPOINT_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import structlog
from pydantic import BaseModel

from bench.emulated import aws_settings
from bus.aws import AwsClients
from bus.publish.publisher import Publisher
from bus.schema import Registry
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.model import Topology, physical_name
from bus.worker import Worker, WorkerOptions, WorkerParts

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
HANDLED: list[int] = []
TARGET = [0]
DONE = asyncio.Event()


class Blob(BaseModel):
    n: int
    data: str


async def handle(event: Blob) -> None:
    HANDLED.append(len(event.data))
    if len(HANDLED) >= TARGET[0]:
        DONE.set()


def _topology() -> Topology:
    return Topology.model_validate(
        {
            "name": "benchclaims",
            "queues": {"blobs": {"visibility_timeout": 60, "dead_letter": False}},
            "events": {"Blob": {"model": "bench.claim_check:Blob", "publish_to": [{"queue": "blobs"}]}},
            "handlers": {"blobs": {"events": {"Blob": "bench.claim_check:handle"}, "concurrency": 8}},
            "claim_check": {"bucket": "bench-payloads"},
        }
    )  # fmt: skip


async def _puts(
    aws: AwsClients, bucket: str, body: bytes, count: int, prefix: str = "raw"
) -> float:
    start = time.perf_counter()
    for n in range(count):
        await aws.s3.put_object(Bucket=bucket, Key=f"{prefix}-{n}", Body=body)
    return time.perf_counter() - start


async def _gets(aws: AwsClients, bucket: str, count: int, prefix: str = "raw") -> float:
    start = time.perf_counter()
    for n in range(count):
        answer = await aws.s3.get_object(Bucket=bucket, Key=f"{prefix}-{n}")
        async with answer["Body"] as stream:
            await stream.read()
    return time.perf_counter() - start


async def run(settings: Settings, count: int, size: int) -> None:
    env = "c" + uuid.uuid4().hex[:6]
    topology = _topology()
    registry = Registry.from_topology(topology, ROOT)
    events = [Blob(n=n, data="x" * size) for n in range(count)]
    async with AwsClients(settings) as aws:
        await converge(aws, topology, env)
        bucket = physical_name("bench-payloads", env)
        body = events[0].model_dump_json().encode()
        await _puts(aws, bucket, body, 2, "warm")  # warm the connections up
        await _gets(aws, bucket, 2, "warm")
        put_floor = await _puts(aws, bucket, body, count)
        get_floor = await _gets(aws, bucket, count)

        publisher = Publisher(aws, registry, topology, env)
        start = time.perf_counter()
        await publisher.publish_many(events, check=True)
        published = time.perf_counter() - start

        worker = Worker(aws, topology, env=env, base_dir=ROOT,
                        options=WorkerOptions(wait_seconds=1, shutdown_grace=10.0),
                        parts=WorkerParts(registry=registry))  # fmt: skip
        TARGET[0] = count
        start = time.perf_counter()
        await worker.start()
        try:
            await DONE.wait()
            consumed = time.perf_counter() - start
        finally:
            await worker.stop()
    mib = len(body) / MIB
    print(f"claim check, {count} events of {mib:.2f} MiB each (ratios: against S3 one at a time)")
    rows = [
        ("PutObject, one at a time", put_floor, None),
        ("publish_many (claim-checked)", published, put_floor),
        ("GetObject, one at a time", get_floor, None),
        ("worker consume (claim-checked)", consumed, get_floor),
    ]
    for name, seconds, floor in rows:
        rate = count / seconds
        ratio = f"   ratio {floor / seconds:5.2f}x" if floor else ""
        print(f"   {name:<32} {rate:7.1f} events/s {rate * mib:7.1f} MiB/s{ratio}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--size", type=int, default=MIB - 512, help="bytes of data per event")
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    print(f"bench.claim_check  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs")
    with aws_settings() as (settings, _):
        asyncio.run(run(settings, args.events, args.size))


if __name__ == "__main__":  # run as bench.claim_check: the topology names its models there
    from bench.claim_check import main as run_main

    run_main()
