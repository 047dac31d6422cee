"""Helpers for the worker tests: apply a topology written in the test, run a worker, wait, peek."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio

from bus.aws import AwsClients
from bus.memory import virtual_time
from bus.publish.publisher import Publisher
from bus.schema import Registry
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.load import load_topology
from bus.topology.model import Topology, physical_name
from bus.worker import Stats, Worker, WorkerOptions, WorkerParts
from tests.worker.rig import MemorySQS

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Applied:
    """A topology applied to the emulator under its own environment prefix."""

    aws: AwsClients
    topology: Topology
    path: Path
    env: str
    registry: Registry

    def url(self, queue: str) -> str:
        return f"{self.aws.settings.endpoint_url}/000000000000/{physical_name(queue, self.env)}"

    async def queue_url(self, queue: str) -> str:
        answer = await self.aws.sqs.get_queue_url(QueueName=physical_name(queue, self.env))
        return answer["QueueUrl"]

    def publisher(self) -> Publisher:
        return Publisher(self.aws, self.registry, self.topology, self.env)

    def worker(self, stats: Stats | None = None, **options: Any) -> Worker:
        options.setdefault("shutdown_grace", 10.0)
        options.setdefault("wait_seconds", 1)
        return Worker(
            self.aws,
            self.topology,
            env=self.env,
            base_dir=ROOT,
            options=WorkerOptions(**options),
            parts=WorkerParts(registry=self.registry, publisher=self.publisher(), stats=stats),
        )

    @asynccontextmanager
    async def running(self, stats: Stats | None = None, **options: Any) -> AsyncIterator[Worker]:
        worker = self.worker(stats, **options)
        await worker.start()
        try:
            yield worker
        finally:
            await worker.stop()

    async def depth(self, queue: str) -> int:
        """Messages in ``queue``: visible, in flight and delayed."""
        answer = await self.aws.sqs.get_queue_attributes(
            QueueUrl=await self.queue_url(queue),
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )
        return sum(int(v) for v in answer["Attributes"].values())

    async def drain(self, queue: str, *, wait: int = 1) -> list[Mapping[str, Any]]:
        """Receive (and delete) everything in ``queue`` until a receive comes back empty."""
        url = await self.queue_url(queue)
        out: list[Mapping[str, Any]] = []
        while True:
            answer = await self.aws.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=wait,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            )
            batch = answer.get("Messages", [])
            if not batch:
                return out
            out.extend(batch)
            await self.aws.sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                ],
            )


def new_env() -> str:
    return "w" + uuid.uuid4().hex[:8]


def write_topology(text: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "topology.yaml"
    path.write_text(text)
    return path


async def apply_topology(aws: AwsClients, text: str, folder: Path, env: str) -> Applied:
    path = write_topology(text, folder)
    topology = load_topology(path)
    await converge(aws, topology, env)
    return Applied(aws, topology, path, env, Registry.from_topology(topology, ROOT))


async def wait_for(
    check: Callable[[], bool | Awaitable[bool]], within: float = 30.0, every: float = 0.05
) -> None:
    """Wait until ``check()`` is true; fail with a clear message after ``within`` seconds."""
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


@pytest_asyncio.fixture(scope="module")
async def module_aws(bus_settings: Settings) -> AsyncIterator[AwsClients]:
    async with AwsClients(bus_settings) as clients:
        yield clients


@pytest_asyncio.fixture
async def sqs() -> AsyncIterator[MemorySQS]:
    """The in-memory AWS journaling into ``tests.worker.rig.JOURNAL``, on the virtual clock."""
    with virtual_time():
        yield MemorySQS()
