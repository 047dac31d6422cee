"""The ceiling: the aiobotocore loops a user would write by hand, with nothing around them.

Consume: ``concurrency`` loops of ReceiveMessage(10) -> handle each body (``json.loads`` and tally)
-> DeleteMessageBatch. Publish: ``concurrency`` loops of SendMessageBatch(10), each message the
payload's JSON alone; ``publish-same``: the same loops sending the message bus sends for the event
(a CloudEvents envelope around the payload, built by hand with ``json``, ``uuid`` and
``datetime``, no validation, and bus's two message attributes ``event_type`` and
``event_version``): what LocalStack is given to parse and store is then the same for both, so the
comparison shows what bus itself costs. ``consume-same``: the consume loops on those messages
(``publish-same``'s queue), asking ReceiveMessage for what bus's worker asks (every message
attribute and the worker's system attributes, ``WORKER_SYSTEM_ATTRIBUTES``) and reading the
payload out of the envelope: what LocalStack is asked to find, copy and answer is then the same as
for bus. Latency: the consume loops running while single SendMessage calls go out at a fixed rate.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession

from bench.compare.common import Job, Result, Stopwatch, Tally, payload, run_main, shares, timed
from bus.aws.sqs import WORKER_SYSTEM_ATTRIBUTES

BATCH = 10
AS_BUS_ASKS: dict[str, Any] = {
    "MessageAttributeNames": ["All"],
    "MessageSystemAttributeNames": list(WORKER_SYSTEM_ATTRIBUTES),
}
"""What bus's worker asks ReceiveMessage for beyond the bodies (``consume-same``)."""


@asynccontextmanager
async def sqs_client(job: Job) -> AsyncIterator[Any]:
    config = AioConfig(
        retries={"mode": "standard", "max_attempts": 5},
        max_pool_connections=max(10, 2 * job.concurrency),
    )
    session = AioSession()
    async with session.create_client(
        "sqs",
        endpoint_url=job.endpoint,
        region_name=job.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=config,
    ) as client:
        yield client


async def _consume_loop(sqs: Any, job: Job, tally: Tally, on_body: Any = None) -> None:
    same = job.action == "consume-same"
    asks = AS_BUS_ASKS if same else {}
    while not tally.done.is_set():
        answer = await sqs.receive_message(
            QueueUrl=job.queue_url,
            MaxNumberOfMessages=BATCH,
            WaitTimeSeconds=job.wait_seconds,
            **asks,
        )
        messages = answer.get("Messages", [])
        if not messages:
            continue
        for message in messages:
            data = json.loads(message["Body"])
            if same:
                data = data["data"]
            if on_body is not None:
                on_body(data)
            tally.hit(data["n"])
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        answer = await sqs.delete_message_batch(QueueUrl=job.queue_url, Entries=entries)
        if answer.get("Failed"):
            raise RuntimeError(f"DeleteMessageBatch failed: {answer['Failed']}")


async def _run_loops(sqs: Any, job: Job, tally: Tally, on_body: Any = None) -> None:
    loops = [
        asyncio.create_task(_consume_loop(sqs, job, tally, on_body)) for _ in range(job.concurrency)
    ]
    try:
        while not tally.done.is_set():
            done = [t for t in loops if t.done() and t.exception() is not None]
            if done:
                raise done[0].exception()  # type: ignore[misc]
            await asyncio.sleep(0.05)
        # Loops in a long poll finish it (what they receive is deleted): nothing stays invisible.
        await asyncio.wait_for(asyncio.gather(*loops), timeout=job.wait_seconds + 10)
    finally:
        for task in loops:
            task.cancel()


async def consume(job: Job) -> Result:
    tally = Tally(job.messages)
    async with sqs_client(job) as sqs:
        await asyncio.wait_for(_run_loops(sqs, job, tally), timeout=job.timeout)
    return tally.result("bare", job.action)


ATTRIBUTES = {
    "event_type": {"DataType": "String", "StringValue": "BenchOrder"},
    "event_version": {"DataType": "Number", "StringValue": "1"},
}
"""The message attributes bus sends with every ``BenchOrder`` (``publish-same``)."""


def as_bus_sends(n: int, data: dict[str, Any]) -> dict[str, Any]:
    """The SendMessageBatch entry bus makes of ``data`` (the benchmark's ``BenchOrder``): its
    envelope, as a hand-written loop would build it, and its two attributes."""
    event_id = str(uuid.uuid4())
    envelope = {
        "specversion": "1.0",
        "id": event_id,
        "source": "bench",
        "type": "BenchOrder",
        "time": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "eventversion": 1,
        "correlationid": event_id,
        "data": data,
    }
    body = json.dumps(envelope, separators=(",", ":"))
    return {"Id": str(n), "MessageBody": body, "MessageAttributes": ATTRIBUTES}


async def publish(job: Job) -> Result:
    bodies = [payload(n, job.payload_bytes) for n in range(job.messages)]
    same = job.action == "publish-same"
    async with sqs_client(job) as sqs:

        async def send(part: range) -> None:
            for start in range(part.start, part.stop, BATCH):
                if same:
                    entries = [
                        as_bus_sends(n - start, bodies[n])
                        for n in range(start, min(start + BATCH, part.stop))
                    ]
                else:
                    entries = [
                        {"Id": str(n - start), "MessageBody": json.dumps(bodies[n])}
                        for n in range(start, min(start + BATCH, part.stop))
                    ]
                answer = await sqs.send_message_batch(QueueUrl=job.queue_url, Entries=entries)
                if answer.get("Failed"):
                    raise RuntimeError(f"SendMessageBatch failed: {answer['Failed']}")

        await send(range(1))
        numbers = timed(job.messages)
        watch = Stopwatch().start()
        await asyncio.gather(*(send(p) for p in batch_shares(numbers, job.concurrency)))
        return watch.result("bare", job.action, len(numbers))


def batch_shares(numbers: range, parts: int) -> list[range]:
    """``numbers`` in ``parts`` slices of whole batches: every call but the last carries ten."""
    batches = shares(range(0, (len(numbers) + BATCH - 1) // BATCH), parts)
    first, stop = numbers.start, numbers.stop
    return [range(first + b.start * BATCH, min(first + b.stop * BATCH, stop)) for b in batches]


async def latency(job: Job) -> Result:
    """Publish -> handler start, in ms, for ``messages`` single sends (see ``drive``)."""
    tally = Tally(job.messages)
    samples: list[float] = []
    handled = asyncio.Event()

    def on_body(data: dict[str, Any]) -> None:
        samples.append((time.perf_counter() - data["sent_at"]) * 1000)
        handled.set()

    async with sqs_client(job) as sqs:
        consumer = asyncio.create_task(_run_loops(sqs, job, tally, on_body))
        await asyncio.sleep(1.0)  # the pollers are waiting in their long polls

        async def send(n: int) -> None:
            body = payload(n, job.payload_bytes, time.perf_counter())
            await sqs.send_message(QueueUrl=job.queue_url, MessageBody=json.dumps(body))

        sends = await drive(job, send, handled)
        await asyncio.wait_for(consumer, timeout=job.timeout)
        await asyncio.gather(*sends)
    return Result("bare", job.action, job.messages, 0.0, 0.0, latencies_ms=samples)


Send = Callable[[int], Awaitable[None]]


async def drive(job: Job, send: Send, handled: asyncio.Event) -> list[asyncio.Task[None]]:
    """Send every message of a latency run: ``latency`` starts ``send(n)`` at ``job.rate`` per
    second whatever each one takes (open loop); ``latency-serial`` sends the next one only once
    the handler saw the previous one (one message in flight at a time)."""
    if job.action == "latency-serial":
        for n in range(job.messages):
            handled.clear()
            await send(n)
            await asyncio.wait_for(handled.wait(), timeout=30)
        return []
    start = time.perf_counter()
    tasks = []
    for n in range(job.messages):
        delay = start + n / job.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(n)))
    return tasks


ACTIONS = {
    "consume": consume,
    "consume-same": consume,
    "publish": publish,
    "publish-same": publish,
    "latency": latency,
    "latency-serial": latency,
}


def run(job: Job) -> Result:
    action = ACTIONS.get(job.action)
    if action is None:
        raise SystemExit(f"bare: unknown action {job.action!r}")
    return asyncio.run(action(job))


if __name__ == "__main__":
    run_main(run)
