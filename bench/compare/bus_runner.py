"""bus, driven the way a user drives it: the topology's handler run by ``Worker``, ``Publisher``.

Consume: a ``Worker`` on the benchmark topology (``bus_app``), whose queue has ``concurrency``
pollers. Publish: ``Publisher.publish_many`` (batched) or ``Publisher.publish`` once per event from
``concurrency`` tasks; the publisher's ``max_in_flight`` is ``concurrency`` in both. Logging is
configured as the CLI does (INFO, JSON lines on stderr), and the worker keeps its start-up heap out
of the interpreter's full collections as ``bus worker`` does (``freeze_startup``).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bench.compare import bus_app
from bench.compare.bare import drive
from bench.compare.common import Job, Result, Stopwatch, Tally, payload, run_main, shares, timed
from bus.aws import AwsClients
from bus.logging import configure_logging
from bus.publish import Publisher
from bus.schema import Registry
from bus.settings import Settings
from bus.topology.load import load_topology
from bus.worker import Worker, WorkerOptions, WorkerParts

ROOT = Path(__file__).resolve().parents[2]


def _settings(job: Job) -> Settings:
    return Settings(
        endpoint_url=job.endpoint,
        region=job.region,
        env=job.env,
        topology_path=Path(job.topology),
        max_pool_connections=max(50, 2 * job.concurrency),
    )


def _events(job: Job) -> list[bus_app.BenchOrder]:
    return [bus_app.BenchOrder(**payload(n, job.payload_bytes)) for n in range(job.messages)]


class App:
    """The benchmark topology, its registry, and AWS clients opened by ``async with``."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.settings = _settings(job)
        self.topology = load_topology(self.settings.topology_path)
        self.registry = Registry.from_topology(self.topology, ROOT)

    def publisher(self, aws: AwsClients) -> Publisher:
        return Publisher(
            aws, self.registry, self.topology, self.job.env, max_in_flight=self.job.concurrency
        )

    def worker(self, aws: AwsClients) -> Worker:
        options = WorkerOptions(
            wait_seconds=self.job.wait_seconds, shutdown_grace=10.0, freeze_startup=True
        )  # as ``bus worker`` runs it
        return Worker(
            aws,
            self.topology,
            env=self.job.env,
            base_dir=ROOT,
            options=options,
            parts=WorkerParts(registry=self.registry, publisher=self.publisher(aws)),
        )


async def _until_done(tally: Tally, within: float) -> None:
    deadline = time.monotonic() + within
    while not tally.done.is_set():
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(tally.seen)} of {tally.target} handled in {within}s")
        await asyncio.sleep(0.05)


async def consume(job: Job) -> Result:
    app = App(job)
    tally = Tally(job.messages)
    bus_app.SINK = bus_app.Sink(tally)
    async with AwsClients(app.settings) as aws:
        worker = app.worker(aws)
        await worker.start()
        try:
            await _until_done(tally, job.timeout)
        finally:
            await worker.stop()
        stats = worker.stats.total()
    return tally.result("bus", "consume", received=stats.received, processed=stats.processed)


async def publish(job: Job) -> Result:
    app = App(job)
    events = _events(job)
    async with AwsClients(app.settings) as aws:
        publisher = app.publisher(aws)
        await publisher.publish(events[0])
        numbers = timed(job.messages)
        watch = Stopwatch().start()
        if job.action == "publish":
            await publisher.publish_many(events[1:], check=True)
        else:

            async def one_by_one(part: range) -> None:
                for n in part:
                    await publisher.publish(events[n])

            await asyncio.gather(*(one_by_one(p) for p in shares(numbers, job.concurrency)))
        return watch.result("bus", job.action, len(numbers))


async def latency(job: Job) -> Result:
    app = App(job)
    tally = Tally(job.messages)
    samples: list[float] = []
    sink = bus_app.SINK = bus_app.Sink(tally, samples)
    async with AwsClients(app.settings) as aws:
        publisher = app.publisher(aws)
        worker = app.worker(aws)
        await worker.start()
        try:
            await asyncio.sleep(1.0)  # the pollers are waiting in their long polls

            async def send(n: int) -> None:
                data = payload(n, job.payload_bytes, time.perf_counter())
                await publisher.publish(bus_app.BenchOrder(**data))

            sends = await drive(job, send, sink.handled_one)
            await _until_done(tally, job.timeout)
            await asyncio.gather(*sends)
        finally:
            await worker.stop()
    return Result("bus", job.action, job.messages, 0.0, 0.0, latencies_ms=samples)


async def middleware(job: Job) -> Result:
    """No network: the worker's in-process path (decode, validate, the middlewares, the handler,
    queue the delete) with none and with ten no-op consume middlewares added (``bench.worker``)."""
    from bench.worker import middleware_cost

    count = 2_000
    path_us, each_us = await middleware_cost(count)
    return Result(
        "bus",
        "middleware",
        count,
        path_us * count / 1e6,
        path_us * count / 1e6,
        notes={"per_middleware_us": round(each_us, 3), "path_us": round(path_us, 1)},
    )


ACTIONS = {
    "middleware": middleware,
    "consume": consume,
    "publish": publish,
    "publish-single": publish,
    "latency": latency,
    "latency-serial": latency,
}


def run(job: Job) -> Result:
    action = ACTIONS.get(job.action)
    if action is None:
        raise SystemExit(f"bus: unknown action {job.action!r}")
    configure_logging("INFO", json=True)
    return asyncio.run(action(job))


if __name__ == "__main__":
    run_main(run)
