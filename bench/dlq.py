"""DLQ benchmark, measured in one process and printed as ratios (no assertions).

Selective redrive (``bus.dlq.redrive_selected``: receive, select, SendMessageBatch, then
DeleteMessageBatch of what was sent) of N dead letters, against SQS's own message move task
(StartMessageMoveTask, followed with ListMessageMoveTasks) moving the same N messages from the same
DLQ to the same source queue. Each run starts from a DLQ filled with the same N messages (1 KiB
OrderPlaced envelopes with a ``bus.failure`` attribute) and an empty source queue.

    .venv/bin/python -m bench.dlq [--messages N] [--concurrency K ...]

Starts its own LocalStack (bus.emulator) unless AWS_ENDPOINT_URL is set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime

import structlog

from bench.emulated import aws_settings
from bus import dlq
from bus.aws import AwsClients
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.model import Topology, physical_name

FILL_CONCURRENCY = 8


def _topology() -> Topology:
    return Topology.model_validate(
        {"name": "benchdlq", "queues": {"orders": {"dead_letter": {"max_receive_count": 3}}}}
    )


def _message(n: int, source: str) -> dict[str, object]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    envelope = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "shop",
        "type": "OrderPlaced",
        "time": now,
        "datacontenttype": "application/json",
        "eventversion": 2,
        "data": {
            "order_id": f"o-{n}",
            "customer_id": "c-1",
            "total_cents": n,
            "currency": "EUR",
            "country": "DE",
            "lines": [
                {"sku": f"SKU-{i}", "quantity": 1, "unit_price_cents": 100} for i in range(12)
            ],
        },
    }
    failure = {
        "reason": "handler-error",
        "error_type": "billing.PaymentDeclined",
        "error": f"card declined for order o-{n}",
        "attempt": 3,
        "queue": source,
        "message_id": str(uuid.uuid4()),
        "first_failed_at": now,
        "failed_at": now,
    }
    return {
        "MessageBody": json.dumps(envelope),
        "MessageAttributes": {
            "event_type": {"DataType": "String", "StringValue": "OrderPlaced"},
            "event_version": {"DataType": "Number", "StringValue": "2"},
            "bus.failure": {"DataType": "String", "StringValue": json.dumps(failure)},
        },
    }


async def _fill(aws: AwsClients, url: str, count: int, source: str) -> None:
    batches = [range(start, min(start + 10, count)) for start in range(0, count, 10)]
    limit = asyncio.Semaphore(FILL_CONCURRENCY)

    async def send(batch: range) -> None:
        entries = [{"Id": str(i), **_message(n, source)} for i, n in enumerate(batch)]
        async with limit:
            answer = await aws.sqs.send_message_batch(QueueUrl=url, Entries=entries)  # type: ignore[arg-type]
        if answer.get("Failed"):
            raise RuntimeError(f"fill failed: {answer['Failed'][:1]}")

    await asyncio.gather(*(send(b) for b in batches))


async def _depth(aws: AwsClients, url: str) -> int:
    answer = await aws.sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    return sum(int(v) for v in answer["Attributes"].values())


async def _reset(aws: AwsClients, urls: tuple[str, str], count: int, source: str) -> None:
    """Empty both queues (PurgeQueue is limited to one per minute: delete by receiving)."""
    for url in urls:
        while await _depth(aws, url):
            answer = await aws.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30
            )
            messages = answer.get("Messages", [])
            if messages:
                await aws.sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)
                    ],
                )
    await _fill(aws, urls[0], count, source)


async def run(settings: Settings, count: int, concurrencies: list[int]) -> None:
    env = "b" + uuid.uuid4().hex[:6]
    async with AwsClients(settings) as aws:
        await converge(aws, _topology(), env)
        dlq_url = (await aws.sqs.get_queue_url(QueueName=physical_name("orders-dlq", env)))[
            "QueueUrl"
        ]
        source_url = (await aws.sqs.get_queue_url(QueueName=physical_name("orders", env)))[
            "QueueUrl"
        ]
        urls = (dlq_url, source_url)
        selection = dlq.Selection.build(reasons=["handler-error"])
        rates: dict[str, float] = {}
        for concurrency in concurrencies:
            await _reset(aws, urls, count, physical_name("orders", env))
            options = dlq.RedriveOptions(selection=selection, concurrency=concurrency)
            start = time.perf_counter()
            report = await dlq.redrive_selected(aws, dlq_url, options=options)
            elapsed = time.perf_counter() - start
            if report.moved != count:
                raise RuntimeError(f"redrive moved {report.moved} of {count}: {report.failed}")
            rates[f"selective redrive, concurrency {concurrency}"] = count / elapsed
        await _reset(aws, urls, count, physical_name("orders", env))
        start = time.perf_counter()
        task = await dlq.start_move_task(aws, dlq_url, to=source_url)
        async for status in dlq.follow(aws, task, interval=0.05):
            last = status
        elapsed = time.perf_counter() - start
        if last.status != "COMPLETED" or await _depth(aws, source_url) != count:
            raise RuntimeError(f"move task: {last}")
        move = count / elapsed
    print(f"selective redrive vs SQS message move task, {count} messages, 1 KiB each")
    print(f"   {'message move task':<36} {move:8.0f} msg/s")
    for name, rate in rates.items():
        print(f"   {name:<36} {rate:8.0f} msg/s   ratio {rate / move:5.2f}x")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, action="append")
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    print(f"bench.dlq  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs")
    with aws_settings() as (settings, _):
        asyncio.run(run(settings, args.messages, args.concurrency or [1, 4]))


if __name__ == "__main__":
    main()
