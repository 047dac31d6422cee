"""A small in-memory stand-in for the few SQS calls ``bus.dlq`` makes, for unit tests of bus's own
control flow: what it sends, deletes and lets go, in which order, when an entry fails, a call
raises or the task is cancelled.

It is not a model of SQS and claims nothing about AWS: no long polling, no deduplication, no size
limits, visibility by the clock; a message move task moves nothing, it runs until cancelled. Every failure is the test's choice (``on_send``, ``on_delete``,
``hook``). ``FakeQueue.blocks_groups`` makes a FIFO queue hand out no further message of a group
while one of it is in flight, the rule SQS documents, so that a scan's accounting of what it could
not reach can be exercised.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from botocore.exceptions import ClientError

from bus.aws import AwsClients
from bus.aws.failure import FailureRecord

Entry = dict[str, Any]
Failure = dict[str, Any]
_ids = itertools.count(1)


@dataclass
class FakeMessage:
    body: str
    attributes: dict[str, Any] = field(default_factory=dict)
    group: str | None = None
    message_id: str = field(default_factory=lambda: f"m-{next(_ids)}")
    visible_at: float = 0.0
    handle: str | None = None
    receives: int = 0
    sent_ms: int = field(default_factory=lambda: int(time.time() * 1000))


@dataclass
class FakeQueue:
    name: str
    messages: list[FakeMessage] = field(default_factory=list)
    blocks_groups: bool = True

    @property
    def url(self) -> str:
        return f"https://sqs.fake/000000000000/{self.name}"

    @property
    def arn(self) -> str:
        return f"arn:aws:sqs:fake:000000000000:{self.name}"

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")

    def put(self, body: str, group: str | None = None, **attributes: str) -> FakeMessage:
        attrs = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
        message = FakeMessage(body, attrs, group)
        self.messages.append(message)
        return message

    def bodies(self) -> list[str]:
        return [m.body for m in self.messages]

    def hidden(self) -> list[str]:
        now = time.monotonic()
        return [m.body for m in self.messages if m.visible_at > now]


@dataclass
class FakeMoveTask:
    handle: str
    source_arn: str
    destination_arn: str
    status: str = "RUNNING"


Hook = Callable[[str, str], Awaitable[None]]
"""Awaited as ``hook(operation, phase)``, phase ``"before"`` (nothing done yet) or ``"after"``
(done, the answer not yet returned): a test raises or waits there."""


class FakeSqs:
    def __init__(self) -> None:
        self.queues: dict[str, FakeQueue] = {}
        self.log: list[tuple[str, str, tuple[str, ...]]] = []
        """(operation, queue, bodies) when a call took effect, and ``"<operation> returned"``
        when its answer was handed back, in order."""
        self.on_send: Callable[[FakeQueue, Entry], Failure | None] = lambda queue, entry: None
        self.on_delete: Callable[[FakeQueue, FakeMessage], Failure | None] = lambda q, m: None
        self.hook: Hook | None = None
        self.visibility_timeouts: list[int] = []
        """The VisibilityTimeout of every ReceiveMessage, in order."""
        self.move_tasks: list[FakeMoveTask] = []

    def queue(self, name: str) -> FakeQueue:
        queue = FakeQueue(name)
        self.queues[queue.url] = queue
        return queue

    def clients(self) -> AwsClients:
        return cast(AwsClients, SimpleNamespace(sqs=self))

    def session(self, settings: Any = None) -> Any:
        """Stands in for ``AwsClients(settings)`` (an async context manager) in the CLI."""

        @asynccontextmanager
        async def clients() -> AsyncIterator[AwsClients]:
            yield self.clients()

        return clients()

    async def _at(self, operation: str, phase: str) -> None:
        await asyncio.sleep(0)  # a call takes a turn of the loop, as a real one would
        if self.hook is not None:
            await self.hook(operation, phase)

    def returned(self, operation: str, queue: FakeQueue, bodies: tuple[str, ...]) -> None:
        self.log.append((f"{operation} returned", queue.name, bodies))

    # -- the calls bus.dlq makes ----------------------------------------------------------------

    async def get_queue_url(self, QueueName: str) -> dict[str, Any]:
        for queue in self.queues.values():
            if queue.name == QueueName:
                return {"QueueUrl": queue.url}
        error = {"Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue", "Message": ""}}
        raise ClientError(error, "GetQueueUrl")  # type: ignore[arg-type]

    async def get_queue_attributes(
        self, QueueUrl: str, AttributeNames: Sequence[str]
    ) -> dict[str, Any]:
        queue = self.queues[QueueUrl]
        now = time.monotonic()
        visible = sum(1 for m in queue.messages if m.visible_at <= now)
        return {
            "Attributes": {
                "QueueArn": queue.arn,
                "ApproximateNumberOfMessages": str(visible),
                "ApproximateNumberOfMessagesNotVisible": str(len(queue.messages) - visible),
            }
        }

    async def list_dead_letter_source_queues(self, QueueUrl: str, **_: Any) -> dict[str, Any]:
        return {"queueUrls": []}

    async def receive_message(
        self, QueueUrl: str, MaxNumberOfMessages: int, VisibilityTimeout: int, **_: Any
    ) -> dict[str, Any]:
        await self._at("ReceiveMessage", "before")
        self.visibility_timeouts.append(VisibilityTimeout)
        queue = self.queues[QueueUrl]
        now = time.monotonic()
        blocked = set()
        if queue.fifo and queue.blocks_groups:
            blocked = {m.group for m in queue.messages if m.visible_at > now}
        out: list[dict[str, Any]] = []
        for m in queue.messages:
            if len(out) == MaxNumberOfMessages:
                break
            if m.visible_at > now or m.group in blocked:
                continue
            m.visible_at = now + VisibilityTimeout
            m.handle = f"{m.message_id}/{next(_ids)}"
            m.receives += 1
            system = {"ApproximateReceiveCount": str(m.receives), "SentTimestamp": str(m.sent_ms)}
            if m.group is not None:
                system["MessageGroupId"] = m.group
            out.append(
                {
                    "MessageId": m.message_id,
                    "ReceiptHandle": m.handle,
                    "Body": m.body,
                    "MessageAttributes": m.attributes,
                    "Attributes": system,
                }
            )
        self.log.append(("receive", queue.name, tuple(o["Body"] for o in out)))
        await self._at("ReceiveMessage", "after")
        self.returned("receive", queue, tuple(o["Body"] for o in out))
        return {"Messages": out} if out else {}

    async def send_message_batch(self, QueueUrl: str, Entries: list[Entry]) -> dict[str, Any]:
        await self._at("SendMessageBatch", "before")
        queue = self.queues[QueueUrl]
        ok: list[dict[str, str]] = []
        failed: list[dict[str, Any]] = []
        for entry in Entries:
            failure = self.on_send(queue, entry)
            if failure is not None:
                failed.append({"Id": entry["Id"], "Message": "", **failure})
                continue
            attributes = entry.get("MessageAttributes", {})
            queue.messages.append(
                FakeMessage(entry["MessageBody"], attributes, entry.get("MessageGroupId"))
            )
            ok.append({"Id": entry["Id"], "MessageId": f"m-{next(_ids)}"})
        sent = {e["Id"] for e in ok}
        bodies = tuple(e["MessageBody"] for e in Entries if e["Id"] in sent)
        self.log.append(("send", queue.name, bodies))
        await self._at("SendMessageBatch", "after")
        self.returned("send", queue, bodies)
        return {"Successful": ok, "Failed": failed}

    async def delete_message_batch(self, QueueUrl: str, Entries: list[Entry]) -> dict[str, Any]:
        await self._at("DeleteMessageBatch", "before")
        queue = self.queues[QueueUrl]
        ok: list[dict[str, str]] = []
        failed: list[dict[str, Any]] = []
        deleted: list[str] = []
        for entry in Entries:
            message = next((m for m in queue.messages if m.handle == entry["ReceiptHandle"]), None)
            if message is None:
                failed.append({"Id": entry["Id"], "Code": "ReceiptHandleIsInvalid"})
                continue
            failure = self.on_delete(queue, message)
            if failure is not None:
                failed.append({"Id": entry["Id"], "Message": "", **failure})
                continue
            queue.messages.remove(message)
            deleted.append(message.body)
            ok.append({"Id": entry["Id"]})
        self.log.append(("delete", queue.name, tuple(deleted)))
        await self._at("DeleteMessageBatch", "after")
        self.returned("delete", queue, tuple(deleted))
        return {"Successful": ok, "Failed": failed}

    async def change_message_visibility_batch(
        self, QueueUrl: str, Entries: list[Entry]
    ) -> dict[str, Any]:
        await self._at("ChangeMessageVisibilityBatch", "before")
        queue = self.queues[QueueUrl]
        failed: list[dict[str, Any]] = []
        for entry in Entries:
            message = next((m for m in queue.messages if m.handle == entry["ReceiptHandle"]), None)
            if message is None:
                failed.append({"Id": entry["Id"], "Code": "ReceiptHandleIsInvalid"})
                continue
            message.visible_at = time.monotonic() + entry["VisibilityTimeout"]
        await self._at("ChangeMessageVisibilityBatch", "after")
        ok = [{"Id": e["Id"]} for e in Entries if e["Id"] not in {f["Id"] for f in failed}]
        return {"Successful": ok, "Failed": failed}

    async def start_message_move_task(
        self, SourceArn: str, DestinationArn: str, **_: Any
    ) -> dict[str, Any]:
        await self._at("StartMessageMoveTask", "before")
        task = FakeMoveTask(f"task-{next(_ids)}", SourceArn, DestinationArn)
        self.move_tasks.append(task)
        await self._at("StartMessageMoveTask", "after")
        return {"TaskHandle": task.handle}

    async def list_message_move_tasks(self, SourceArn: str, **_: Any) -> dict[str, Any]:
        await self._at("ListMessageMoveTasks", "before")
        tasks = [t for t in reversed(self.move_tasks) if t.source_arn == SourceArn]
        results = [
            {
                "Status": t.status,
                "SourceArn": t.source_arn,
                "DestinationArn": t.destination_arn,
                "ApproximateNumberOfMessagesMoved": 0,
                **({"TaskHandle": t.handle} if t.status == "RUNNING" else {}),
            }
            for t in tasks
        ]
        return {"Results": results}

    async def cancel_message_move_task(self, TaskHandle: str) -> dict[str, Any]:
        await self._at("CancelMessageMoveTask", "before")
        task = next((t for t in self.move_tasks if t.handle == TaskHandle), None)
        if task is None or task.status != "RUNNING":
            error = {"Error": {"Code": "ResourceNotFoundException", "Message": "not running"}}
            raise ClientError(error, "CancelMessageMoveTask")  # type: ignore[arg-type]
        task.status = "CANCELLED"
        return {"ApproximateNumberOfMessagesMoved": 0}

    def running_tasks(self) -> list[str]:
        return [t.handle for t in self.move_tasks if t.status == "RUNNING"]


def event(n: int, queue: str, **data: Any) -> str:
    """A bus envelope body (unique per ``n``) whose ``bus.failure`` would name ``queue``."""
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"e-{n}",
            "source": "fake",
            "type": "T",
            "eventversion": 1,
            "data": {"n": n, **data},
        }
    )


def failure(queue: str) -> str:
    """A ``bus.failure`` record as the worker writes it (one bus trusts), naming ``queue``."""
    now = datetime.now(UTC)
    return FailureRecord(
        reason="rejected",
        error_type="bus.control.Reject",
        error="rejected",
        attempt=1,
        queue=queue,
        message_id="m-source",
        first_failed_at=now,
        failed_at=now,
    ).to_attribute()


def number(body: str) -> int:
    return int(json.loads(body)["data"]["n"])
