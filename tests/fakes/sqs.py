"""The one in-memory SQS of bus's own unit tests (control flow only: never a claim about AWS).

It answers the calls the worker (``bus.worker.sqs.QueueOps``) and the DLQ tools (``bus.dlq``) make:
GetQueueUrl, GetQueueAttributes, ReceiveMessage (long polling scaled by ``wait_scale``),
SendMessage(Batch), DeleteMessageBatch, ChangeMessageVisibility(Batch) and the message move tasks.
Each message keeps its visibility, receive count and current receipt handle (an older one is
refused, as FIFO queues do); a FIFO queue hands a group out only while none of its messages is in
flight (unless ``blocks_groups`` is off). What the test steers:

- ``fail(operation, error, times)``: the next calls of an operation raise ``error``;
- ``refuse(message_id, code, sender_fault=...)``: the next delete entries of a message fail;
- ``on_send`` / ``on_delete``: decide per entry whether it fails (a failure dict, or None);
- ``hook(operation, phase)``: awaited before a call takes effect and after, before it returns.

What it records: ``journal`` (``("receive", url)``, ``("received", url, [ids])``,
``("receive-cancelled", url)``, ``("delete", id)``, ``("delete-refused", id)``,
``("visibility", id, seconds)``, ``("send", url, id)``: by message id, in order), ``log``
(``(operation, queue name, bodies)`` when a call took effect and ``"<operation> returned"`` when
its answer was handed back) and ``visibility_timeouts`` (of every ReceiveMessage that set one).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

from botocore.exceptions import ClientError

from bus.aws import AwsClients

Entry = dict[str, Any]
Failure = dict[str, Any]
Hook = Callable[[str, str], Awaitable[None]]
"""Awaited as ``hook(operation, phase)``, phase ``"before"`` (nothing done yet) or ``"after"``
(done, the answer not yet returned): a test raises or waits there."""
_ids = itertools.count(1)


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)  # type: ignore[arg-type]


@dataclass
class FakeMessage:
    body: str
    attributes: dict[str, Any] = field(default_factory=dict)
    group: str | None = None
    message_id: str = field(default_factory=lambda: f"m-{next(_ids)}")
    sequence: int = field(default_factory=lambda: next(_ids))
    receive_count: int = 0
    visible_at: float = 0.0
    receipt: str | None = None
    first_received_ms: int | None = None
    sent_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    def in_flight(self, now: float) -> bool:
        return self.receipt is not None and self.visible_at > now


@dataclass
class FakeQueue:
    name: str
    url: str = ""
    visibility_timeout: int = 30
    blocks_groups: bool = True
    messages: list[FakeMessage] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.url = self.url or f"https://sqs.fake/000000000000/{self.name}"

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

    def find(self, receipt: str) -> FakeMessage | None:
        return next((m for m in self.messages if m.receipt == receipt), None)

    def bodies(self) -> list[str]:
        return [m.body for m in self.messages]

    def hidden(self) -> list[str]:
        now = time.monotonic()
        return [m.body for m in self.messages if m.visible_at > now]

    def receivable(self, now: float, most: int) -> list[FakeMessage]:
        blocked: set[str | None] = set()
        if self.fifo and self.blocks_groups:
            blocked = {m.group for m in self.messages if m.in_flight(now)}
        out: list[FakeMessage] = []
        for msg in self.messages:  # in order: a group's first ones, consecutively
            if msg.visible_at > now or msg.group in blocked:
                if self.fifo and self.blocks_groups:
                    blocked.add(msg.group)
                continue
            if len(out) >= most:
                break
            out.append(msg)
        return out


@dataclass
class FakeMoveTask:
    handle: str
    source_arn: str
    destination_arn: str
    status: str = "RUNNING"


class FakeSqs:
    """The SQS calls of bus, in memory, over any number of queues (by URL)."""

    def __init__(self, journal: list[tuple[Any, ...]] | None = None) -> None:
        self.queues: dict[str, FakeQueue] = {}
        self.journal: list[tuple[Any, ...]] = [] if journal is None else journal
        self.log: list[tuple[str, str, tuple[str, ...]]] = []
        self.on_send: Callable[[FakeQueue, Entry], Failure | None] = lambda queue, entry: None
        self.on_delete: Callable[[FakeQueue, FakeMessage], Failure | None] = lambda q, m: None
        self.hook: Hook | None = None
        self.visibility_timeouts: list[int] = []
        self.move_tasks: list[FakeMoveTask] = []
        self.wait_scale = 0.25
        """A long poll of N seconds lasts N * wait_scale here (quick shutdowns in tests)."""
        self._numbers = itertools.count(1)
        self._failures: dict[str, list[BaseException]] = {}
        self._refusals: dict[str, list[str]] = {}

    # -- the test's side ---------------------------------------------------------------------

    def queue(self, name: str, url: str = "", visibility_timeout: int = 30) -> FakeQueue:
        made = FakeQueue(name, url, visibility_timeout)
        return self.queues.setdefault(made.url, made)

    def create(self, url: str, visibility_timeout: int = 30) -> FakeQueue:
        return self.queue(url.rsplit("/", 1)[-1], url, visibility_timeout)

    def put(
        self,
        url: str,
        body: str,
        attributes: Mapping[str, Any] | None = None,
        group: str | None = None,
        message_id: str | None = None,
    ) -> str:
        queue = self.create(url)
        number = next(self._numbers)
        msg = FakeMessage(body, dict(attributes or {}), group, message_id or f"m{number}")
        queue.messages.append(msg)
        return msg.message_id

    def fail(self, operation: str, error: BaseException, times: int = 1) -> None:
        """The next ``times`` calls of ``operation`` (botocore's method name) raise ``error``."""
        self._failures.setdefault(operation, []).extend([error] * times)

    def refuse(self, message_id: str, code: str, *, sender_fault: bool, times: int = 1) -> None:
        """The next ``times`` delete entries of ``message_id`` fail with ``code``."""
        self._refusals.setdefault(message_id, []).extend(
            [f"{code}:{'sender' if sender_fault else 'service'}"] * times
        )

    def expire(self, url: str, message_id: str) -> None:
        """Make a message visible now, as if its visibility timeout had run out."""
        self.message(url, message_id).visible_at = 0.0

    def ids(self, url: str) -> list[str]:
        return [m.message_id for m in self.queues[url].messages]

    def message(self, url: str, message_id: str) -> FakeMessage:
        return next(m for m in self.queues[url].messages if m.message_id == message_id)

    def clients(self) -> AwsClients:
        return cast(AwsClients, SimpleNamespace(sqs=self))

    def session(self, settings: Any = None) -> Any:
        """Stands in for ``AwsClients(settings)`` (an async context manager) in the CLI."""

        @asynccontextmanager
        async def clients() -> AsyncIterator[AwsClients]:
            yield self.clients()

        return clients()

    def running_tasks(self) -> list[str]:
        return [t.handle for t in self.move_tasks if t.status == "RUNNING"]

    async def _at(self, operation: str, phase: str) -> None:
        if phase == "before":
            pending = self._failures.get(_method(operation))
            if pending:
                raise pending.pop(0)
        if self.hook is not None:
            await asyncio.sleep(0)  # a hooked call takes a turn of the loop, as a real one would
            await self.hook(operation, phase)

    def _returned(self, operation: str, queue: FakeQueue, bodies: tuple[str, ...]) -> None:
        self.log.append((f"{operation} returned", queue.name, bodies))

    # -- queues ------------------------------------------------------------------------------

    async def get_queue_url(self, QueueName: str, **_: Any) -> dict[str, Any]:
        for queue in self.queues.values():
            if queue.name == QueueName:
                return {"QueueUrl": queue.url}
        raise client_error("AWS.SimpleQueueService.NonExistentQueue", "GetQueueUrl")

    async def get_queue_attributes(
        self, QueueUrl: str, AttributeNames: Sequence[str] = (), **_: Any
    ) -> dict[str, Any]:
        queue = self.queues[QueueUrl]
        now = time.monotonic()
        visible = sum(1 for m in queue.messages if m.visible_at <= now)
        return {
            "Attributes": {
                "QueueArn": queue.arn,
                "VisibilityTimeout": str(queue.visibility_timeout),
                "FifoQueue": str(queue.fifo).lower(),
                "ApproximateNumberOfMessages": str(visible),
                "ApproximateNumberOfMessagesNotVisible": str(len(queue.messages) - visible),
            }
        }

    async def list_dead_letter_source_queues(self, QueueUrl: str, **_: Any) -> dict[str, Any]:
        return {"queueUrls": []}

    # -- messages ----------------------------------------------------------------------------

    async def receive_message(
        self,
        *,
        QueueUrl: str,
        MaxNumberOfMessages: int = 1,
        WaitTimeSeconds: int = 0,
        VisibilityTimeout: int | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        self.journal.append(("receive", QueueUrl))
        await self._at("ReceiveMessage", "before")
        if VisibilityTimeout is not None:
            self.visibility_timeouts.append(VisibilityTimeout)
        queue = self.queues[QueueUrl]
        deadline = time.monotonic() + WaitTimeSeconds * self.wait_scale
        try:
            while True:
                now = time.monotonic()
                found = queue.receivable(now, MaxNumberOfMessages)
                if found or now >= deadline:
                    break
                await asyncio.sleep(0.005)
        except asyncio.CancelledError:
            self.journal.append(("receive-cancelled", QueueUrl))
            raise
        hold = queue.visibility_timeout if VisibilityTimeout is None else VisibilityTimeout
        out = [self._hand_out(msg, now, hold) for msg in found]
        self.journal.append(("received", QueueUrl, [m.message_id for m in found]))
        bodies = tuple(m.body for m in found)
        self.log.append(("receive", queue.name, bodies))
        await self._at("ReceiveMessage", "after")
        self._returned("receive", queue, bodies)
        return {"Messages": out} if out else {}

    def _hand_out(self, msg: FakeMessage, now: float, hold: int) -> dict[str, Any]:
        msg.receive_count += 1
        msg.receipt = f"{msg.message_id}#{msg.receive_count}"
        msg.visible_at = now + hold
        if msg.first_received_ms is None:
            msg.first_received_ms = int(time.time() * 1000)
        system = {
            "ApproximateReceiveCount": str(msg.receive_count),
            "ApproximateFirstReceiveTimestamp": str(msg.first_received_ms),
            "SentTimestamp": str(msg.sent_ms),
        }
        if msg.group is not None:
            system |= {"MessageGroupId": msg.group, "SequenceNumber": str(10**6 + msg.sequence)}
        return {
            "MessageId": msg.message_id,
            "ReceiptHandle": msg.receipt,
            "Body": msg.body,
            "MessageAttributes": msg.attributes,
            "Attributes": system,
        }

    async def send_message(
        self, *, QueueUrl: str, MessageBody: str, **entry: Any
    ) -> dict[str, Any]:
        self.journal.append(("send", QueueUrl, None))
        await self._at("SendMessage", "before")
        message_id = self.put(
            QueueUrl, MessageBody, entry.get("MessageAttributes"), entry.get("MessageGroupId")
        )
        self.journal[-1] = ("send", QueueUrl, message_id)
        return {"MessageId": message_id}

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
            message = FakeMessage(entry["MessageBody"], attributes, entry.get("MessageGroupId"))
            queue.messages.append(message)
            ok.append({"Id": entry["Id"], "MessageId": message.message_id})
        sent = {e["Id"] for e in ok}
        bodies = tuple(e["MessageBody"] for e in Entries if e["Id"] in sent)
        self.log.append(("send", queue.name, bodies))
        await self._at("SendMessageBatch", "after")
        self._returned("send", queue, bodies)
        return {"Successful": ok, "Failed": failed}

    async def delete_message_batch(
        self, *, QueueUrl: str, Entries: Sequence[Mapping[str, str]]
    ) -> dict[str, Any]:
        await self._at("DeleteMessageBatch", "before")
        queue = self.queues[QueueUrl]
        ok: list[dict[str, str]] = []
        failed: list[dict[str, Any]] = []
        deleted: list[str] = []
        for entry in Entries:
            msg = queue.find(entry["ReceiptHandle"])
            failure = self._delete_failure(queue, msg, entry)
            if failure is not None:
                failed.append(failure)
                continue
            assert msg is not None
            queue.messages.remove(msg)
            deleted.append(msg.body)
            self.journal.append(("delete", msg.message_id))
            ok.append({"Id": entry["Id"]})
        self.log.append(("delete", queue.name, tuple(deleted)))
        await self._at("DeleteMessageBatch", "after")
        self._returned("delete", queue, tuple(deleted))
        return {"Successful": ok, "Failed": failed}

    def _delete_failure(
        self, queue: FakeQueue, msg: FakeMessage | None, entry: Mapping[str, str]
    ) -> dict[str, Any] | None:
        refusal = self._refusals.get(msg.message_id if msg else "", [])
        if msg is None or refusal:
            code, fault = (
                refusal.pop(0).split(":") if refusal else ("ReceiptHandleIsInvalid", "sender")
            )
            self.journal.append(
                ("delete-refused", msg.message_id if msg else entry["ReceiptHandle"])
            )
            return {"Id": entry["Id"], "Code": code, "SenderFault": fault == "sender"}
        failure = self.on_delete(queue, msg)
        return None if failure is None else {"Id": entry["Id"], "Message": "", **failure}

    async def change_message_visibility(
        self, *, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int
    ) -> dict[str, Any]:
        await self._at("ChangeMessageVisibility", "before")
        msg = self.queues[QueueUrl].find(ReceiptHandle)
        if msg is None:
            raise client_error("ReceiptHandleIsInvalid", "ChangeMessageVisibility")
        self._set_visibility(msg, VisibilityTimeout)
        return {}

    async def change_message_visibility_batch(
        self, *, QueueUrl: str, Entries: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        await self._at("ChangeMessageVisibilityBatch", "before")
        queue = self.queues[QueueUrl]
        failed: list[dict[str, Any]] = []
        for entry in Entries:
            msg = queue.find(entry["ReceiptHandle"])
            if msg is None:
                failed.append(
                    {"Id": entry["Id"], "Code": "ReceiptHandleIsInvalid", "SenderFault": True}
                )
                continue
            self._set_visibility(msg, int(entry["VisibilityTimeout"]))
        await self._at("ChangeMessageVisibilityBatch", "after")
        refused = {f["Id"] for f in failed}
        ok = [{"Id": e["Id"]} for e in Entries if e["Id"] not in refused]
        return {"Successful": ok, "Failed": failed}

    def _set_visibility(self, msg: FakeMessage, seconds: int) -> None:
        msg.visible_at = time.monotonic() + seconds
        self.journal.append(("visibility", msg.message_id, seconds))

    # -- message move tasks ------------------------------------------------------------------

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


def _method(operation: str) -> str:
    """``ReceiveMessage`` -> ``receive_message`` (what ``fail`` is keyed by)."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")
