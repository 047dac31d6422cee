"""The benchmark's queues: each one made by applying the benchmark topology under its own prefix
(so every system gets an identical, empty queue), and read back to check what a run left."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from bench.compare.bus_app import QUEUE
from bus.aws import AwsClients
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.load import load_topology
from bus.topology.model import physical_name

if TYPE_CHECKING:
    from types_aiobotocore_sqs.literals import QueueAttributeNameType

COUNTS: list[QueueAttributeNameType] = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


class Queues:
    """``async with Queues(...) as queues: url = await queues.create("r1-bus")``."""

    def __init__(self, endpoint: str, region: str, topology: Path) -> None:
        self.settings = Settings(endpoint_url=endpoint, region=region)
        self.topology = load_topology(topology)
        self._aws: AwsClients | None = None

    @property
    def aws(self) -> AwsClients:
        if self._aws is None:
            raise RuntimeError("use `async with Queues(...)`")
        return self._aws

    async def __aenter__(self) -> Queues:
        self._aws = await AwsClients(self.settings).__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._aws is not None:
            await self._aws.__aexit__(exc_type, exc, tb)
            self._aws = None

    async def create(self, prefix: str) -> str:
        """Apply the topology under ``prefix``; the URL of its queue."""
        await converge(self.aws, self.topology, prefix)
        answer = await self.aws.sqs.get_queue_url(QueueName=physical_name(QUEUE, prefix))
        return answer["QueueUrl"]

    async def depth(self, url: str) -> int:
        """Messages on the queue: visible, in flight and delayed."""
        answer = await self.aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=COUNTS)
        found = answer["Attributes"]
        return sum(int(found.get(name) or "0") for name in COUNTS)

    async def count(self, url: str, expected: int, within: float = 5.0) -> int:
        """The queue's depth once it equals ``expected`` or after ``within`` seconds."""
        deadline = asyncio.get_running_loop().time() + within
        while (found := await self.depth(url)) != expected:
            if asyncio.get_running_loop().time() > deadline:
                return found
            await asyncio.sleep(0.2)
        return found
