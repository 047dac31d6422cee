"""Publishing benchmarks, measured in one process and printed as ratios (no assertions).

1. Throughput: 5,000 events to the same destination, batched (``publish_many``: SNS PublishBatch,
   SQS SendMessageBatch) against one call per event (``publish``), with the same number of calls
   in flight (10). For an SQS queue and an SNS topic, with the CPU each event costs the client
   (this process) and LocalStack (its process, when this script started it), and how soon
   ``publish_many``'s first call left (it sends batches while later events are being prepared).
2. Request bodies. SNS: ``publish_many`` to the topic with the body form-encoded once per call
   (bus's ``before-sign`` handler) against botocore's default, which encodes it at every read.
   Both: ``publish_many`` with the batch entries serialised by bus
   (``bus.aws.encoding.LightSerializer``) against botocore's own validation and serialisation.
3. CPU per event: what the Publisher does to an event before sending (dump, validate the JSON a
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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench.emulated import aws_settings
from bus.aws import AwsClients
from bus.aws.encoding import EVENT as ENCODE_ONCE_EVENT
from bus.aws.encoding import LightSerializer, encode_query_body_once
from bus.publish import Publisher
from bus.publish.prepare import FlowContext, prepare_routed
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


@dataclass(frozen=True)
class Run:
    """One timed run: events per second, and CPU per event of this process and of LocalStack."""

    rate: float
    client_us: float
    emulator_us: float | None
    first_call_ms: float | None = None
    """When the first request left, after the run started."""

    def __str__(self) -> str:
        emulator = "" if self.emulator_us is None else f"   LocalStack {self.emulator_us:5.0f} us"
        first = (
            "" if self.first_call_ms is None else f"   first call after {self.first_call_ms:.1f} ms"
        )
        return f"{self.rate:6.0f} ev/s   CPU per event: client {self.client_us:5.0f} us{emulator}{first}"


def _cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system, all threads) of process ``pid`` so far."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _timed(
    run: Callable[[], Awaitable[object]], count: int, pid: int | None, client: Any = None
) -> Run:
    """Time ``run``; with ``client``, also when its first request was sent (botocore event)."""
    sends: list[float] = []

    def sent(**_: object) -> None:
        sends.append(time.perf_counter())

    if client is not None:
        client.meta.events.register("before-send", sent, unique_id="bench-first-call")
    before, cpu, started = _cpu_seconds(pid), time.process_time(), time.perf_counter()
    try:
        await run()
    finally:
        if client is not None:
            client.meta.events.unregister("before-send", unique_id="bench-first-call")
    wall = time.perf_counter() - started
    after = _cpu_seconds(pid)
    emulator_us = None if before is None or after is None else (after - before) / count * 1e6
    first = (sends[0] - started) * 1000 if sends else None
    return Run(count / wall, (time.process_time() - cpu) / count * 1e6, emulator_us, first)


async def _one_by_one(publisher: Publisher, events: Sequence[OrderPlaced]) -> None:
    queue = iter(events)

    async def worker() -> None:
        for event in queue:
            await publisher.publish(event)

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


async def _batched(publisher: Publisher, events: Sequence[OrderPlaced]) -> None:
    results = await publisher.publish_many(events, check=True)
    assert len(results) == len(events)


async def throughput(settings: Settings, count: int, pid: int | None) -> None:
    env = "bench" + uuid.uuid4().hex[:6]
    async with AwsClients(settings) as aws:
        await converge(aws, _topology(), env)
        publisher = Publisher(aws, _registry(), _topology(), env, max_in_flight=IN_FLIGHT)
        print(f"1. publish throughput: {count} events (~1 KiB), {IN_FLIGHT} calls in flight")
        events = {
            kind: [model.model_validate(_data(n)) for n in range(count)]
            for kind, model in (("SQS queue", QueueOrder), ("SNS topic", TopicOrder))
        }
        clients = {"SQS queue": aws.sqs, "SNS topic": aws.sns}
        for kind, kind_events in events.items():
            await _batched(publisher, kind_events[:50])  # warm up connections and lookups
            runs = {}
            for label, run in (("one call per event", _one_by_one), ("batched", _batched)):
                client = clients[kind] if run is _batched else None
                runs[label] = await _timed(partial(run, publisher, kind_events), count, pid, client)
                print(f"   {kind}  {label:18}  {runs[label]}")
            one, batched = runs["one call per event"].rate, runs["batched"].rate
            print(f"   {kind}  ratio batched / one call per event: {batched / one:.1f}x")
        await _encoding(aws, publisher, events["SNS topic"], pid)
        for kind, kind_events in events.items():
            await _light(clients[kind], kind, publisher, kind_events, pid)


async def _encoding(
    aws: AwsClients, publisher: Publisher, events: Sequence[OrderPlaced], pid: int | None
) -> None:
    print("2. request bodies")
    print(f"   SNS publish_many, {len(events)} events: request body form-encoded (best of 2)")
    runs: dict[str, list[Run]] = {"at every read (botocore)": [], "once per call (bus)": []}
    send = partial(_batched, publisher, events)
    for _ in range(2):
        aws.sns.meta.events.unregister(ENCODE_ONCE_EVENT, encode_query_body_once)
        runs["at every read (botocore)"].append(await _timed(send, len(events), pid))
        aws.sns.meta.events.register(ENCODE_ONCE_EVENT, encode_query_body_once)
        runs["once per call (bus)"].append(await _timed(send, len(events), pid))
    best = {label: max(found, key=lambda r: r.rate) for label, found in runs.items()}
    for label, run in best.items():
        print(f"   {label:25}  {run}")
    once, every = best["once per call (bus)"], best["at every read (botocore)"]
    print(
        f"   ratio once / at every read: {once.rate / every.rate:.2f}x throughput, "
        f"{once.client_us / every.client_us:.2f}x client CPU per event"
    )


async def _light(
    client: Any, kind: str, publisher: Publisher, events: Sequence[OrderPlaced], pid: int | None
) -> None:
    print(f"   {kind} publish_many, {len(events)} events: entries serialised (best of 2)")
    light = client._serializer
    if not isinstance(light, LightSerializer):
        print("   (the client has no LightSerializer: nothing to compare)")
        return
    runs: dict[str, list[Run]] = {"by botocore": [], "by bus": []}
    send = partial(_batched, publisher, events)
    try:
        for _ in range(2):
            client._serializer = light.full
            runs["by botocore"].append(await _timed(send, len(events), pid))
            client._serializer = light
            runs["by bus"].append(await _timed(send, len(events), pid))
    finally:
        client._serializer = light
    best = {label: max(found, key=lambda r: r.rate) for label, found in runs.items()}
    for label, run in best.items():
        print(f"   {label:25}  {run}")
    ours, theirs = best["by bus"], best["by botocore"]
    print(
        f"   ratio bus / botocore: {ours.rate / theirs.rate:.2f}x throughput, "
        f"{ours.client_us / theirs.client_us:.2f}x client CPU per event"
    )


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
    route = Publisher(None, registry, _topology(), None).route(spec)  # type: ignore[arg-type]
    data = _data(1)
    event = TopicOrder.model_validate(data)
    context = FlowContext()
    size = len(event.model_dump_json())

    def pydantic_only() -> object:
        return TopicOrder.model_validate(data).model_dump_json()

    def bus_prepare() -> object:
        return prepare_routed(0, route, event, context)

    def bus_from_data() -> object:
        return prepare_routed(0, route, TopicOrder.model_validate(data), context)

    base = _cpu_per_call(pydantic_only, repeat)
    ours = _cpu_per_call(bus_prepare, repeat)
    whole = _cpu_per_call(bus_from_data, repeat)
    print(f"3. CPU per event ({size}-byte data, best of 5 x {repeat}, process time)")
    print(f"   pydantic model_validate + model_dump_json          {base:6.1f} us")
    print(
        f"   bus: validate + encode of an event (Publisher)     {ours:6.1f} us   ratio {ours / base:.2f}x"
    )
    print(
        f"   bus: the same, building the event from the data    {whole:6.1f} us   ratio {whole / base:.2f}x"
    )
    print(f"   envelope, attributes and checks beyond pydantic    {ours - base:6.1f} us per event")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5_000)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    with aws_settings() as (settings, pid):
        asyncio.run(throughput(settings, args.events, pid))
    cpu()


if __name__ == "__main__":
    main()
