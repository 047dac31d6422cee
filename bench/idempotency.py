"""Idempotency overhead per message, measured in one run and printed as ratios (no assertions).

The consume pipeline's idempotency step (``bus.middleware.Idempotency``) around a handler that does
nothing, over ``N`` deliveries of distinct events, three ways: no idempotency (the baseline), the
in-memory store, and the DynamoDB store (a ``PutItem`` claim and an ``UpdateItem`` completion per
event; a duplicate costs one refused ``PutItem``). One delivery at a time (the added latency per
message) and ``K`` at a time (the throughput a worker with concurrency ``K`` could reach through
this step alone), alternated over rounds, medians printed. Against the emulator the DynamoDB
figures are the emulator's (ministack, on this machine), not DynamoDB's: in AWS a conditional
write in the same region typically takes a few milliseconds.

    .venv/bin/python -m bench.idempotency [--events N] [--concurrency K] [--rounds R]

Starts its own emulator (ministack, serving DynamoDB) unless AWS_ENDPOINT_URL is set (then
``AWS_ENDPOINT_URL_DYNAMODB`` too, if DynamoDB is served elsewhere).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

from bus import emulator
from bus.aws import AwsClients
from bus.envelope import new_envelope
from bus.middleware import Idempotency, MemoryStore
from bus.middleware.consume import HANDLED, Incoming, chain
from bus.middleware.idempotency import IdempotencyStore
from bus.middleware.idempotency_dynamodb import DynamoDBStore
from bus.schema import EventSpec
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.model import Topology
from bus.worker.message import Received
from schemas.orders import OrderPlaced

LOG = structlog.get_logger("bench")
SPEC = EventSpec("OrderPlaced", 1, OrderPlaced, "bench")


@contextmanager
def dynamodb_settings() -> Iterator[Settings]:
    if os.environ.get("AWS_ENDPOINT_URL"):
        yield Settings.from_env()
        return
    instance = emulator.start(backend="ministack")
    try:
        with emulator.environment(instance):
            yield Settings(endpoint_url=instance.endpoint, region=instance.region)
    finally:
        emulator.stop(instance)


def _deliveries(n: int) -> list[Incoming]:
    event = OrderPlaced(order_id="o-1", customer_id="c-1", lines=[], total_cents=0, country="DE")
    out = []
    for i in range(n):
        message = Received(f"m-{i}", f"r-{i}", "{}", {}, {"ApproximateReceiveCount": "1"})
        delivery = Incoming(message, "bench", 1, LOG, lambda d, e: HANDLED)
        delivery.envelope = new_envelope(SPEC, event, id=str(uuid.uuid4()))
        out.append(delivery)
    return out


async def _handler(delivery: Incoming) -> None:
    delivery.outcome = HANDLED


async def _run(store: IdempotencyStore | None, n: int, concurrency: int) -> float:
    """Seconds for ``n`` fresh deliveries through the step, ``concurrency`` at a time."""
    stack = [Idempotency(store, expires=300, redeliver_after=30)] if store is not None else []
    call = chain(stack, _handler)
    pending = iter(_deliveries(n))

    async def lane() -> None:
        for delivery in pending:
            await call(delivery)
            assert delivery.outcome is HANDLED, delivery.outcome

    begun = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return time.perf_counter() - begun


async def _duplicates(store: IdempotencyStore, n: int) -> float:
    """Seconds per duplicate (a copy of a handled event), one at a time."""
    deliveries = _deliveries(n)
    call = chain([Idempotency(store, expires=300, redeliver_after=30)], _handler)
    for delivery in deliveries:
        await call(delivery)
    begun = time.perf_counter()
    for delivery in deliveries:
        delivery.outcome = None
        await call(delivery)
        assert delivery.outcome is not None
        assert delivery.outcome.kind == "duplicate"
    return (time.perf_counter() - begun) / n


async def bench(settings: Settings, events: int, concurrency: int, rounds: int) -> None:
    env = "b" + uuid.uuid4().hex[:8]
    topology = Topology.model_validate(
        {"name": "bench", "idempotency": {"store": "dynamodb", "table": "handled"}}
    )
    async with AwsClients(settings) as aws:
        await converge(aws, topology, env)
        try:
            stores: dict[str, IdempotencyStore | None] = {
                "none": None,
                "memory": MemoryStore(),
                "dynamodb": DynamoDBStore(aws, f"{env}-handled"),
            }
            for k in (1, concurrency):
                times: dict[str, list[float]] = {name: [] for name in stores}
                for _ in range(rounds):
                    for name, store in stores.items():
                        times[name].append(await _run(store, events, k) / events)
                median = {name: statistics.median(t) for name, t in times.items()}
                print(f"{'1.' if k == 1 else '2.'} {events} events, {k} at a time "
                      f"(median of {rounds} rounds)")  # fmt: skip
                base = median["none"]
                for name, per in median.items():
                    extra = "" if name == "none" else f"   +{(per - base) * 1e6:8.0f} us/message"
                    print(f"   {name:9} {per * 1e6:9.1f} us/message {1 / per:9.0f} msg/s{extra}")
                ratio = median["none"] / median["dynamodb"]
                print(f"   throughput of this step, dynamodb / none: {ratio:.5f}x")
            dup = await _duplicates(stores["dynamodb"] or MemoryStore(), min(events, 200))
            print(f"3. a duplicate (copy of a handled event), dynamodb: {dup * 1e3:.2f} ms "
                  "(one refused PutItem)")  # fmt: skip
        finally:
            await converge(aws, Topology(name="bench"), env, prune=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with dynamodb_settings() as settings:
        asyncio.run(bench(settings, args.events, args.concurrency, args.rounds))


if __name__ == "__main__":
    main()
