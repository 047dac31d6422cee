"""Publishing benchmarks, measured in one process and printed as ratios (no assertions).

1. Throughput: 5,000 events to the same destination, batched (``publish_many``: SNS PublishBatch,
   SQS SendMessageBatch) against one call per event (``publish``), with the same number of calls
   in flight (10). For an SQS queue and an SNS topic.
2. CPU per event: what the Publisher does to an event before sending (dump, validate the JSON a
   consumer will read, envelope, attributes, size checks) against pydantic's own
   ``model_validate`` + ``model_dump_json`` of the same model and data.

    .venv/bin/python -m bench.publish [--events N]

Starts its own LocalStack (bus.emulator) unless AWS_ENDPOINT_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bus import emulator
from bus.aws import AwsClients
from bus.publish import Publisher
from bus.publish.prepare import Context, prepare
from bus.schema import EventSpec, Registry
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.model import Destination, Topology
from schemas.orders import OrderLine, OrderPlaced

IN_FLIGHT = 10


class QueueOrder(OrderPlaced):
    """OrderPlaced, routed to the benchmark queue."""


class TopicOrder(OrderPlaced):
    """OrderPlaced, routed to the benchmark topic."""


def _topology() -> Topology:
    return Topology.model_validate(
        {"name": "bench", "topics": {"orders": {}}, "queues": {"orders": {"dead_letter": False}}}
    )


def _registry() -> Registry:
    return Registry(
        [
            EventSpec(
                "QueueOrder",
                2,
                QueueOrder,
                "bench",
                destinations=(Destination(queue="orders"),),
                attributes=("country", "currency", "total_cents"),
            ),
            EventSpec(
                "TopicOrder",
                2,
                TopicOrder,
                "bench",
                destinations=(Destination(topic="orders"),),
                attributes=("country", "currency", "total_cents"),
            ),
        ]
    )


def _data(n: int) -> dict[str, object]:
    """An order of about 1 KiB of JSON."""
    lines = [
        OrderLine(sku=f"SKU-{n}-{i:04d}", quantity=1 + i, unit_price_cents=995 * (i + 1))
        for i in range(12)
    ]
    return {
        "order_id": f"o-{n}",
        "customer_id": f"c-{n % 97}",
        "lines": [line.model_dump() for line in lines],
        "total_cents": sum(line.quantity * line.unit_price_cents for line in lines),
        "currency": "EUR",
        "country": "DE",
    }


async def _one_by_one(publisher: Publisher, events: list[OrderPlaced]) -> None:
    queue = iter(events)

    async def worker() -> None:
        for event in queue:
            await publisher.publish(event)

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


async def _batched(publisher: Publisher, events: list[OrderPlaced]) -> None:
    results = await publisher.publish_many(events, check=True)
    assert len(results) == len(events)


async def throughput(settings: Settings, count: int) -> None:
    env = "bench" + uuid.uuid4().hex[:6]
    async with AwsClients(settings) as aws:
        await converge(aws, _topology(), env)
        publisher = Publisher(aws, _registry(), _topology(), env, max_in_flight=IN_FLIGHT)
        print(f"1. publish throughput: {count} events (~1 KiB), {IN_FLIGHT} calls in flight")
        for kind, model in (("SQS queue", QueueOrder), ("SNS topic", TopicOrder)):
            events = [model.model_validate(_data(n)) for n in range(count)]
            await _batched(publisher, events[:50])  # warm up connections and lookups
            rates = {}
            for label, run in (("one call per event", _one_by_one), ("batched", _batched)):
                started = time.perf_counter()
                await run(publisher, events)
                rates[label] = count / (time.perf_counter() - started)
            one, batched = rates["one call per event"], rates["batched"]
            print(f"   {kind:9}  one call per event {one:8.0f} ev/s   batched {batched:8.0f} ev/s")
            print(f"   {kind:9}  ratio batched / one call per event: {batched / one:.1f}x")


def _cpu_per_call(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(repeat):
            fn()
        best = min(best, (time.process_time() - started) / repeat)
    return best * 1e6


def cpu(repeat: int = 20_000) -> None:
    registry = _registry()
    spec = registry.spec("TopicOrder")
    channels = Publisher(None, registry, _topology(), None).channels(spec)  # type: ignore[arg-type]
    data = _data(1)
    event = TopicOrder.model_validate(data)
    context = Context()
    size = len(event.model_dump_json())

    def pydantic_only() -> object:
        return TopicOrder.model_validate(data).model_dump_json()

    def bus_prepare() -> object:
        return prepare(0, spec, event, channels, context)

    def bus_from_data() -> object:
        return prepare(0, spec, TopicOrder.model_validate(data), channels, context)

    base = _cpu_per_call(pydantic_only, repeat)
    ours = _cpu_per_call(bus_prepare, repeat)
    whole = _cpu_per_call(bus_from_data, repeat)
    print(f"2. CPU per event ({size}-byte data, best of 5 x {repeat}, process time)")
    print(f"   pydantic model_validate + model_dump_json        {base:6.1f} us")
    print(
        f"   bus: validate + encode of an event (Publisher)   {ours:6.1f} us   ratio {ours / base:.2f}x"
    )
    print(
        f"   bus: the same, building the event from the data  {whole:6.1f} us   ratio {whole / base:.2f}x"
    )
    print(f"   envelope, attributes and checks beyond pydantic  {ours - base:6.1f} us per event")


@contextmanager
def _aws() -> Iterator[Settings]:
    if os.environ.get("AWS_ENDPOINT_URL"):
        yield Settings.from_env()
        return
    instance = emulator.start(log=lambda line: print(f"   ({line})"))
    try:
        yield Settings(endpoint_url=instance.endpoint, region=instance.region)
    finally:
        emulator.stop(instance)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5_000)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    with _aws() as settings:
        asyncio.run(throughput(settings, args.events))
    cpu()


if __name__ == "__main__":
    main()
