"""What a message's attributes and envelope cost the emulator, printed as ratios (no assertions).

The bare ``SendMessageBatch`` loop of ``bench.compare`` (N messages of the benchmark's payload,
batches of ten, ``CONCURRENCY`` coroutines) sends, in rotated rounds, one variant of the message
at a time to one queue (purged after each run):

- ``body``: the payload's JSON alone (the loop ``bench.compare`` compares bus with);
- ``envelope``: bus's CloudEvents envelope around it, no message attribute;
- ``body+1attr``: the body with one ``String`` attribute (``event_type``);
- ``body+2strings``: with two ``String`` attributes;
- ``body+2attrs``: with bus's two, ``event_type`` (``String``) and ``event_version`` (``Number``);
- ``bus``: the envelope and bus's two attributes (``bench.compare``'s *bare loop, bus's message*).

It answers where the gap between bus's batched publish and the body-only loop comes from: what
the emulator does more per message for the envelope, and for the attributes bus sends with every
event (SNS filter policies route on them; a dead-letter copy keeps them).

    .venv/bin/python -m bench.attributes [--messages N] [--rounds R]

Starts its own LocalStack (bus.emulator) unless AWS_ENDPOINT_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession

from bench.compare.bare import as_bus_sends
from bench.compare.common import payload
from bench.emulated import aws_settings
from bus.settings import Settings

CONCURRENCY = 8
BATCH = 10
EVENT_TYPE = {"DataType": "String", "StringValue": "BenchOrder"}
VARIANTS: dict[str, dict[str, Any] | None] = {
    "body": None,
    "envelope": None,
    "body+1attr": {"event_type": EVENT_TYPE},
    "body+2strings": {
        "event_type": EVENT_TYPE,
        "event_version": {"DataType": "String", "StringValue": "1"},
    },
    "body+2attrs": {
        "event_type": EVENT_TYPE,
        "event_version": {"DataType": "Number", "StringValue": "1"},
    },
    "bus": None,
}
"""Each variant's attributes added to the body (``envelope`` and ``bus``: made by ``bench.compare``)."""


def entry(variant: str, index: int, n: int) -> dict[str, Any]:
    """The ``SendMessageBatch`` entry ``index`` of ``variant`` for message ``n``."""
    data = payload(n)
    if variant in ("envelope", "bus"):
        made = as_bus_sends(index, data)
        if variant == "envelope":
            del made["MessageAttributes"]
        return made
    made = {"Id": str(index), "MessageBody": json.dumps(data, separators=(",", ":"))}
    attributes = VARIANTS[variant]
    if attributes is not None:
        made["MessageAttributes"] = attributes
    return made


async def _run(sqs: Any, url: str, variant: str, count: int) -> float:
    """Messages per second of ``count`` messages of ``variant`` (entries made before the clock)."""
    batches = [
        [entry(variant, i, start + i) for i in range(min(BATCH, count - start))]
        for start in range(0, count, BATCH)
    ]

    async def send(part: list[list[dict[str, Any]]]) -> None:
        for entries in part:
            answer = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"SendMessageBatch failed: {answer['Failed']}")

    started = time.perf_counter()
    await asyncio.gather(*(send(batches[k::CONCURRENCY]) for k in range(CONCURRENCY)))
    seconds = time.perf_counter() - started
    await sqs.purge_queue(QueueUrl=url)
    return count / seconds


async def measure(settings: Settings, count: int, rounds: int) -> dict[str, list[float]]:
    names = list(VARIANTS)
    rates: dict[str, list[float]] = {name: [] for name in names}
    config = AioConfig(
        retries={"mode": "standard", "max_attempts": 5},
        max_pool_connections=2 * CONCURRENCY,
    )
    async with AioSession().create_client(  # the bare loop's client, as bench.compare's
        "sqs", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config
    ) as sqs:
        url = (await sqs.create_queue(QueueName=f"bench-attr-{uuid.uuid4().hex[:8]}"))["QueueUrl"]
        try:
            await _run(sqs, url, "body", count)  # warm the connections and the emulator
            for r in range(rounds):
                shift = r % len(names)
                for name in names[shift:] + names[:shift]:
                    rates[name].append(await _run(sqs, url, name, count))
                    await asyncio.sleep(1)  # PurgeQueue's effect settles
        finally:
            await sqs.delete_queue(QueueUrl=url)
    return rates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"bench.attributes  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load "
        f"{load}; bare SendMessageBatch loop, {args.messages} messages, {args.rounds} rounds, "
        "medians"
    )
    with aws_settings() as (settings, _):
        rates = asyncio.run(measure(settings, args.messages, args.rounds))
    base = statistics.median(rates["body"])
    for name, values in rates.items():
        median = statistics.median(values)
        each = " ".join(f"{v:,.0f}" for v in values)
        print(f"   {name:<14} {median:7,.0f} msg/s  {median / base:4.2f}x of body  [{each}]")


if __name__ == "__main__":
    main()
