"""``MemoryAws``: an ``AwsClients`` whose SQS, SNS, EventBridge, STS and CloudWatch (alarms only)
clients live in memory, and S3 for the claim check's bucket and payloads.

Anything that takes bus's ``AwsClients`` (the worker, the publisher, ``bus.topology.apply``, the
DLQ tools) takes a ``MemoryAws`` unchanged::

    async with MemoryAws() as aws:
        await converge(aws, topology, env="test")
        ...

Its clients answer the aiobotocore calls bus makes with the same request shapes, the same answers
and the same ``ClientError`` codes; SNS and EventBridge deliver into the in-memory queues with
their filter policies and event patterns evaluated as AWS evaluates them (``bus.memory.matching``).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, cast

from bus.aws.clients import AwsClients
from bus.memory.cloudwatch import MemoryCloudWatch
from bus.memory.dynamodb import MemoryDynamoDB
from bus.memory.events import MemoryEvents
from bus.memory.lambda_ import MemoryLambda
from bus.memory.s3 import MemoryS3
from bus.memory.sns import MemorySns
from bus.memory.sqs import MemorySqs
from bus.memory.sts import MemorySts
from bus.memory.world import DEFAULT_ACCOUNT, DEFAULT_REGION, World
from bus.settings import Settings


class MemoryAws(AwsClients):
    """One in-memory AWS account and region, shaped like ``AwsClients``."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        account_id: str = DEFAULT_ACCOUNT,
        region: str = DEFAULT_REGION,
    ) -> None:
        settings = settings or Settings(region=region)
        super().__init__(settings)
        self.world = World(account_id=account_id, region=settings.region or region)
        self.memory_sqs = MemorySqs(self.world)
        self.memory_sns = MemorySns(self.world, self.memory_sqs)
        self.memory_events = MemoryEvents(self.world, self.memory_sqs)
        self.memory_sts = MemorySts(self.world)
        self.memory_cloudwatch = MemoryCloudWatch(self.world)
        self.memory_lambda = MemoryLambda(self.world)
        self._events = cast(Any, self.memory_events)
        self._sns = cast(Any, self.memory_sns)
        self._sqs = cast(Any, self.memory_sqs)
        self._sts = cast(Any, self.memory_sts)
        self._cloudwatch = cast(Any, self.memory_cloudwatch)
        self.memory_dynamodb = MemoryDynamoDB(self.world)
        self._dynamodb = cast(Any, self.memory_dynamodb)
        self._lambda = cast(Any, self.memory_lambda)
        self.memory_s3 = MemoryS3(self.world)
        self._s3 = cast(Any, self.memory_s3)

    async def __aenter__(self) -> MemoryAws:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self.memory_sqs.move_tasks.running():
            if task.runner is not None:
                task.runner.cancel()

    @property
    def region(self) -> str:
        return self.world.region
