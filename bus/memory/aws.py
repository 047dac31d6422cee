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
Every call on them crosses ``MemoryAws.faults`` (``bus.memory.faults``) once a rule, hook or
journal is set there.
"""

from __future__ import annotations

import inspect
from types import TracebackType
from typing import Any, cast

from bus.aws.clients import AwsClients
from bus.memory.cloudwatch import MemoryCloudWatch
from bus.memory.dynamodb import MemoryDynamoDB
from bus.memory.events import MemoryEvents
from bus.memory.faults import Faults
from bus.memory.lambda_ import MemoryLambda
from bus.memory.s3 import MemoryS3
from bus.memory.sns import MemorySns
from bus.memory.sqs import MemorySqs, message_id_of
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
        self.world = World(
            account_id=account_id, region=settings.region or region, faults=Faults(message_id_of)
        )
        self.memory_sqs = MemorySqs(self.world)
        self.memory_sns = MemorySns(self.world, self.memory_sqs)
        self.memory_events = MemoryEvents(self.world, self.memory_sqs)
        self.memory_sts = MemorySts(self.world)
        self.memory_cloudwatch = MemoryCloudWatch(self.world)
        self.memory_lambda = MemoryLambda(self.world)
        self.memory_dynamodb = MemoryDynamoDB(self.world)
        self.memory_s3 = MemoryS3(self.world)
        self._events = _client("events", self.memory_events, self.faults)
        self._sns = _client("sns", self.memory_sns, self.faults)
        self._sqs = _client("sqs", self.memory_sqs, self.faults)
        self._sts = _client("sts", self.memory_sts, self.faults)
        self._cloudwatch = _client("cloudwatch", self.memory_cloudwatch, self.faults)
        self._dynamodb = _client("dynamodb", self.memory_dynamodb, self.faults)
        self._lambda = _client("lambda", self.memory_lambda, self.faults)
        self._s3 = _client("s3", self.memory_s3, self.faults)

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

    @property
    def faults(self) -> Faults:
        """Fault injection and the call journal of this in-memory AWS (``bus.memory.faults``)."""
        return self.world.faults


class _Client:
    """A service's in-memory client as bus sees it: its operations are the service's own methods
    while ``faults`` is not armed, and go through ``Faults.call`` while it is."""

    def __init__(self, service: str, inner: object, faults: Faults) -> None:
        self._service = service
        self._inner = inner
        self._faults = faults
        self._operations: dict[str, Any] = {}
        faults.watch(self._rebind)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(attr):
            return attr
        self._operations[name] = attr
        chosen = self._through_faults(name, attr) if self._faults.armed else attr
        self.__dict__[name] = chosen  # looked up once per operation
        return chosen

    def _rebind(self, armed: bool) -> None:
        for name, attr in self._operations.items():
            self.__dict__[name] = self._through_faults(name, attr) if armed else attr

    def _through_faults(self, name: str, method: Any) -> Any:
        operation = "".join(part.title() for part in name.split("_"))
        faults, service = self._faults, self._service

        def call(**request: Any) -> Any:
            return faults.call(service, operation, method, request)

        return call


def _client(service: str, inner: object, faults: Faults) -> Any:
    return cast(Any, _Client(service, inner, faults))
