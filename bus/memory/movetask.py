"""SQS message move tasks: StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask.

A task moves the messages of a dead-letter queue to ``DestinationArn``, or each one back to the
queue SQS's redrive took it from, at ``MaxNumberOfMessagesPerSecond`` (virtual) seconds' pace, or
all at once when no rate is given. SQS runs one task per source queue at a time; a task's handle is
listed only while it runs.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bus.memory.errors import client_error, invalid

if TYPE_CHECKING:
    from bus.memory.queue import Queue
    from bus.memory.sqs_queues import QueueStore

MAX_RATE = 500
_NOT_FOUND = "ResourceNotFoundException"
_UNSUPPORTED = "AWS.SimpleQueueService.UnsupportedOperation"


@dataclass(eq=False)
class MoveTask:
    handle: str
    source: Queue
    destination_arn: str | None
    rate: int | None
    started_ms: int
    to_move: int
    moved: int = 0
    status: str = "RUNNING"
    failure: str | None = None
    runner: asyncio.Task[None] | None = field(default=None, repr=False)

    def entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Status": self.status,
            "SourceArn": self.source.arn,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": self.started_ms,
        }
        if self.status == "RUNNING":
            out["TaskHandle"] = self.handle
        if self.destination_arn:
            out["DestinationArn"] = self.destination_arn
        if self.rate is not None:
            out["MaxNumberOfMessagesPerSecond"] = self.rate
        if self.failure:
            out["FailureReason"] = self.failure
        return out


class MoveTasks:
    """The move tasks of one account."""

    def __init__(self, sqs: QueueStore) -> None:
        self.sqs = sqs
        self.tasks: list[MoveTask] = []

    def running(self) -> list[MoveTask]:
        return [t for t in self.tasks if t.status in ("RUNNING", "CANCELLING")]

    def start(
        self, SourceArn: str, DestinationArn: str | None = None,
        MaxNumberOfMessagesPerSecond: int | None = None,
    ) -> str:  # fmt: skip
        op = "StartMessageMoveTask"
        source = self.sqs.by_arn(SourceArn)
        if source is None:
            raise client_error(op, _NOT_FOUND, "The resource that you specified for the SourceArn "
                                               "parameter doesn't exist.")  # fmt: skip
        if not any((r := self.sqs.redrive(q)) and r[0] is source for q in self.sqs.queues.values()):
            raise invalid(op, "Source queue must be configured as a Dead Letter Queue.")
        if DestinationArn and self.sqs.by_arn(DestinationArn) is None:
            raise client_error(op, _NOT_FOUND, "The resource that you specified for the "
                                               "DestinationArn parameter doesn't exist.")  # fmt: skip
        rate = MaxNumberOfMessagesPerSecond
        if rate is not None and not 1 <= rate <= MAX_RATE:
            raise invalid(op, f"Value {rate} for parameter MaxNumberOfMessagesPerSecond is "
                              f"invalid. Reason: Must be between 1 and {MAX_RATE}.")  # fmt: skip
        if any(t.source is source for t in self.running()):
            raise client_error(op, _UNSUPPORTED, "There is already a task running. Only one "
                                                 "active task is allowed for a source queue "
                                                 "arn at a given time.")  # fmt: skip
        clock = self.sqs.world.clock
        handle = base64.b64encode(
            json.dumps({"taskId": self.sqs.world.new_id(), "sourceArn": SourceArn}).encode()
        ).decode()
        task = MoveTask(handle, source, DestinationArn, rate, clock.epoch_ms(),
                        to_move=len(source.messages))  # fmt: skip
        self.tasks.append(task)
        task.runner = asyncio.get_running_loop().create_task(self._run(task))
        return handle

    async def _run(self, task: MoveTask) -> None:
        pace = task.rate or 100
        try:
            for message in list(task.source.messages.values()):
                if task.status == "CANCELLING":
                    break
                if task.moved and task.moved % pace == 0:
                    await asyncio.sleep(1.0 if task.rate else 0)
                if message.id not in task.source.messages or message.in_flight(
                    self.sqs.world.clock.now()
                ):
                    continue
                arn = task.destination_arn or message.source_arn
                destination = self.sqs.by_arn(arn) if arn else None
                if destination is None:
                    task.status, task.failure = "FAILED", "AWS.SimpleQueueService.NonExistentQueue"
                    return
                del task.source.messages[message.id]
                message.receive_count, message.receipt, message.source_arn = 0, None, None
                message.first_receive_ms = None
                message.visible_at = self.sqs.world.clock.now()
                self.sqs.put(destination, message)
                task.moved += 1
            task.status = "CANCELLED" if task.status == "CANCELLING" else "COMPLETED"
        except asyncio.CancelledError:
            task.status = "CANCELLED"
            raise

    def list(self, source_arn: str, limit: int) -> list[dict[str, Any]]:
        if self.sqs.by_arn(source_arn) is None:
            raise client_error("ListMessageMoveTasks", _NOT_FOUND,
                               "The resource that you specified for the SourceArn parameter "
                               "doesn't exist.")  # fmt: skip
        mine = [t for t in self.tasks if t.source.arn == source_arn]
        return [t.entry() for t in reversed(mine)][: max(1, min(10, limit))]

    def cancel(self, handle: str) -> int:
        op = "CancelMessageMoveTask"
        task = next((t for t in self.tasks if t.handle == handle), None)
        if task is None:
            raise client_error(op, _NOT_FOUND, "Task does not exist.")
        if task.status != "RUNNING":
            raise client_error(op, _UNSUPPORTED, f"Task is in {task.status} state and cannot "
                                                 "be cancelled.")  # fmt: skip
        task.status = "CANCELLING"
        return task.moved
