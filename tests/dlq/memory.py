"""The DLQ tools' unit tests over the in-memory AWS (``bus.memory``), for bus's own control flow:
what they send, delete and let go, in which order, when an entry fails, a call raises or the task
is cancelled. Every failure is the test's choice, through ``MemoryAws.faults``; the queues follow
SQS's rules (a FIFO queue hands out no further message of a group while one of it is in flight).

``Sqs`` holds a ``MemoryAws`` (``clients()``, or ``session`` in place of the CLI's
``AwsClients``), its journal of calls (``calls``), and ``log``: ``("send", queue, bodies)`` and
``("delete", queue, bodies)`` when a call took effect, ``"<operation> returned"`` when its answer
was handed back (``send returned``, ``delete returned``). ``hook(fn)`` awaits
``fn(operation, phase)`` in every call, between the two. ``queue(name)`` creates a queue (one named
``<name>-dlq`` is the dead-letter queue of ``<name>``) and returns a ``QueueView`` of it. Below:
the bodies and records these tests put in their queues.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bus.aws.failure import FailureRecord
from bus.memory import Call, MemoryAws
from bus.memory.movetask import MoveTask
from bus.memory.queue import Message, Queue
from bus.memory.sqs import message_id_of

__all__ = ["QueueView", "Sqs", "event", "failure", "number"]

Hook = Callable[[str, str], Awaitable[None]]
"""Awaited as ``hook(operation, phase)``, phase ``"before"`` (nothing done yet) or ``"after"``
(done, the answer not yet returned): a test raises or waits there."""
_LOGGED = {"SendMessageBatch": "send", "DeleteMessageBatch": "delete", "ReceiveMessage": "receive"}


def _at_once(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """The result of a coroutine that never waits (the in-memory SQS's queue calls)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("the call waited")


class Sqs:
    """A ``MemoryAws`` for one test, with its journal and the log described above."""

    def __init__(self) -> None:
        self.aws = MemoryAws()
        self.calls: list[Call] = self.aws.faults.record()
        self.log: list[tuple[str, str, tuple[str, ...]]] = []
        self._hooks: list[Hook] = []
        self._deleting: dict[int, dict[str, str]] = {}
        self.aws.faults.hook(None, "before", self._before)
        self.aws.faults.hook(None, "after", self._after)

    # -- the test's side --------------------------------------------------------------------------

    def queue(self, name: str, visibility_timeout: int = 30) -> QueueView:
        attributes = {"VisibilityTimeout": str(visibility_timeout)}
        if name.endswith(".fifo"):
            attributes["FifoQueue"] = "true"
        memory = self.aws.memory_sqs
        _at_once(memory.create_queue(QueueName=name, Attributes=attributes))
        for source in memory.queues.values():  # <name>-dlq is <name>'s dead-letter queue
            suffix = ".fifo" if source.fifo else ""
            dead = memory.queues.get(f"{source.name.removesuffix('.fifo')}-dlq{suffix}")
            if dead is not None and "RedrivePolicy" not in source.attributes:
                policy = {"deadLetterTargetArn": dead.arn, "maxReceiveCount": 3}
                source.attributes["RedrivePolicy"] = json.dumps(policy)
        return QueueView(self, name)

    def clients(self) -> MemoryAws:
        return self.aws

    def session(self, settings: Any = None) -> MemoryAws:
        """Stands in for ``AwsClients(settings)`` (an async context manager) in the CLI."""
        return self.aws

    def hook(self, hook: Hook) -> None:
        self._hooks.append(hook)

    @property
    def visibility_timeouts(self) -> list[int]:
        """The ``VisibilityTimeout`` of every ReceiveMessage that set one."""
        return [
            int(c.request["VisibilityTimeout"])
            for c in self.calls
            if c.operation == "ReceiveMessage" and "VisibilityTimeout" in c.request
        ]

    @property
    def move_tasks(self) -> list[MoveTask]:
        return self.aws.memory_sqs.move_tasks.tasks

    def running_tasks(self) -> list[str]:
        return [t.handle for t in self.move_tasks if t.status == "RUNNING"]

    def cancelled(self) -> list[str]:
        """The handles of the move tasks a CancelMessageMoveTask call cancelled, in order."""
        return [
            c.request["TaskHandle"]
            for c in self.calls
            if c.operation == "CancelMessageMoveTask" and c.error is None
        ]

    def end_task(self, task: MoveTask) -> None:
        """The task ended (as if it had moved everything), unseen by the tools."""
        if task.runner is not None:
            task.runner.cancel()
        task.status = "COMPLETED"

    # -- the log ----------------------------------------------------------------------------------

    async def _before(self, call: Call) -> None:
        if call.operation == "DeleteMessageBatch":
            queue = self.aws.memory_sqs.queues.get(str(call.queue))
            held = {m.receipt: m.body for m in queue.messages.values()} if queue else {}
            self._deleting[id(call)] = {
                e["ReceiptHandle"]: held[e["ReceiptHandle"]]
                for e in call.request["Entries"]
                if e["ReceiptHandle"] in held
            }
        await self._run_hooks(call.operation, "before")

    async def _after(self, call: Call) -> None:
        kind = _LOGGED.get(call.operation)
        bodies = self._took_effect(call) if kind and call.error is None else None
        if kind and bodies is not None:
            self.log.append((kind, str(call.queue), bodies))
        await self._run_hooks(call.operation, "after")
        if kind and bodies is not None:
            self.log.append((f"{kind} returned", str(call.queue), bodies))

    def _took_effect(self, call: Call) -> tuple[str, ...]:
        answer = call.response or {}
        if call.operation == "ReceiveMessage":
            return tuple(m["Body"] for m in answer.get("Messages", []))
        if call.operation == "SendMessageBatch":
            sent = {e["Id"] for e in answer.get("Successful", [])}
            return tuple(e["MessageBody"] for e in call.request["Entries"] if e["Id"] in sent)
        bodies = self._deleting.pop(id(call), {})
        left = self.aws.memory_sqs.queues[str(call.queue)].messages
        return tuple(body for receipt, body in bodies.items() if message_id_of(receipt) not in left)

    async def _run_hooks(self, operation: str, phase: str) -> None:
        if self._hooks:
            await asyncio.sleep(0)  # a hooked call takes a turn of the loop, as a real one would
        for hook in self._hooks:
            await hook(operation, phase)


@dataclass
class QueueView:
    """One in-memory queue, seen from the test (never through a call)."""

    sqs: Sqs
    name: str

    @property
    def state(self) -> Queue:
        return self.sqs.aws.memory_sqs.queues[self.name]

    @property
    def url(self) -> str:
        return self.state.url

    @property
    def arn(self) -> str:
        return self.state.arn

    @property
    def fifo(self) -> bool:
        return self.state.fifo

    @property
    def messages(self) -> list[Message]:
        return list(self.state.messages.values())

    def put(
        self,
        body: str,
        group: str | None = None,
        attributes: dict[str, Any] | None = None,
        **strings: str,
    ) -> Message:
        """Put a message in the queue as a send would (``strings``: String attributes)."""
        values = dict(attributes or {})
        values |= {k: {"DataType": "String", "StringValue": v} for k, v in strings.items()}
        dedup = self.sqs.aws.world.new_id() if self.fifo else None
        return self.sqs.aws.memory_sqs.deliver(self.state, body, values, group, dedup)

    def hold(self, message: Message) -> None:
        """``message`` was received by someone else, who holds it for the rest of the test."""
        message.receive_count += 1
        message.receipt = "held-elsewhere"
        message.visible_at = self.sqs.aws.world.clock.now() + 43_200

    def bodies(self) -> list[str]:
        return [m.body for m in self.messages]

    def hidden(self) -> list[str]:
        now = self.sqs.aws.world.clock.now()
        return [m.body for m in self.messages if m.visible_at > now]


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
