"""Helpers for the DLQ tests: a topology applied under its own environment, DLQs filled by the
worker's real failure path, queue depths, and counting what a queue holds by event id."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bus.aws import AwsClients
from bus.publish.publisher import Publisher
from bus.schema import Registry
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.load import load_topology
from bus.topology.model import Topology, physical_name
from bus.worker import Worker, WorkerOptions, WorkerParts

ROOT = Path(__file__).resolve().parents[2]


def envelope(event_type: str, data: dict[str, Any], version: int = 1) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "dlqtest",
        "type": event_type,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "datacontenttype": "application/json",
        "eventversion": version,
        "data": data,
    }


def routing(event_type: str, version: int = 1) -> dict[str, Any]:
    return {
        "event_type": {"DataType": "String", "StringValue": event_type},
        "event_version": {"DataType": "Number", "StringValue": str(version)},
    }


@dataclass
class World:
    """A topology applied to the emulator under its own environment prefix."""

    aws: AwsClients
    topology: Topology
    path: Path
    env: str
    registry: Registry

    def name(self, queue: str) -> str:
        return physical_name(queue, self.env)

    async def url(self, queue: str) -> str:
        answer = await self.aws.sqs.get_queue_url(QueueName=self.name(queue))
        return answer["QueueUrl"]

    def publisher(self) -> Publisher:
        return Publisher(self.aws, self.registry, self.topology, self.env)

    @asynccontextmanager
    async def worker(self, *queues: str) -> AsyncIterator[Worker]:
        worker = Worker(
            self.aws,
            self.topology,
            env=self.env,
            base_dir=ROOT,
            options=WorkerOptions(queues=queues, wait_seconds=1, shutdown_grace=5.0),
            parts=WorkerParts(registry=self.registry, publisher=self.publisher()),
        )
        await worker.start()
        try:
            yield worker
        finally:
            await worker.stop()

    async def depth(self, queue: str) -> tuple[int, int]:
        """(visible, in flight) messages of ``queue`` (a logical name)."""
        answer = await self.aws.sqs.get_queue_attributes(
            QueueUrl=await self.url(queue),
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )
        attrs = answer["Attributes"]
        return (
            int(attrs["ApproximateNumberOfMessages"]),
            int(attrs["ApproximateNumberOfMessagesNotVisible"]),
        )

    async def total(self, queue: str) -> int:
        return sum(await self.depth(queue))

    async def send_raw(
        self, queue: str, bodies: Iterable[str], attributes: dict[str, Any] | None = None
    ) -> None:
        url = await self.url(queue)
        for body in bodies:
            await self.aws.sqs.send_message(
                QueueUrl=url, MessageBody=body, MessageAttributes=attributes or {}
            )

    async def event_ids(self, queue: str) -> Counter[str]:
        """Every message of ``queue`` counted by event id (the body's ``id``, else the body).

        Read without deleting: each message is held while the count runs, then all are made
        visible again."""
        url = await self.url(queue)
        seen: Counter[str] = Counter()
        handles: list[str] = []
        while True:
            answer = await self.aws.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60
            )
            batch = answer.get("Messages", [])
            if not batch:
                break
            for message in batch:
                handles.append(message["ReceiptHandle"])
                try:
                    seen[str(json.loads(message["Body"])["id"])] += 1
                except (ValueError, KeyError, TypeError):
                    seen[message["Body"]] += 1
        for start in range(0, len(handles), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, h in enumerate(handles[start : start + 10])
            ]
            await self.aws.sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        return seen


def write_topology(text: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "topology.yaml"
    path.write_text(text)
    return path


@asynccontextmanager
async def open_world(settings: Settings, text: str, folder: Path) -> AsyncIterator[World]:
    """The topology ``text`` applied under a fresh stage prefix, with open clients."""
    path = write_topology(text, folder)
    topology = load_topology(path)
    env = "d" + uuid.uuid4().hex[:8]
    async with AwsClients(settings) as aws:
        await converge(aws, topology, env)
        yield World(aws, topology, path, env, Registry.from_topology(topology, ROOT))


async def wait_for(
    check: Callable[[], Awaitable[bool] | bool], within: float = 30.0, every: float = 0.1
) -> None:
    """Wait until ``check()`` is true; fail clearly after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(every)
