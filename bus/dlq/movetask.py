"""Whole-queue redrive with SQS's own message move task (StartMessageMoveTask), followed with
ListMessageMoveTasks and cancellable with CancelMessageMoveTask.

SQS moves messages back to "their original source" only for messages its own redrive policy put in
the DLQ; messages the bus worker dead-lettered were sent there, so bus always names the destination:
``to``, or the DLQ's only source queue. A DLQ that serves several queues is redriven by copy (see
``bus.dlq.redrive``), each message to the queue its ``bus.failure`` names.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bus.aws import AwsClients, aws_errors
from bus.dlq.queues import QueueRef, Queues
from bus.errors import AwsError, SettingsError
from bus.topology.model import Topology

MAX_RATE = 500
"""StartMessageMoveTask's highest MaxNumberOfMessagesPerSecond."""
TERMINAL = frozenset({"COMPLETED", "CANCELLED", "FAILED"})


@dataclass(frozen=True)
class MoveTask:
    """A started message move task."""

    handle: str
    source: QueueRef
    destination: QueueRef


@dataclass(frozen=True)
class MoveTaskStatus:
    status: str
    moved: int
    to_move: int | None
    failure_reason: str | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> MoveTaskStatus:
        to_move = entry.get("ApproximateNumberOfMessagesToMove")
        return cls(
            status=str(entry.get("Status", "UNKNOWN")),
            moved=int(entry.get("ApproximateNumberOfMessagesMoved", 0)),
            to_move=None if to_move is None else int(to_move),
            failure_reason=entry.get("FailureReason"),
        )


async def move_destination(
    queues: Queues, dlq: QueueRef, to: str | None
) -> tuple[QueueRef | None, tuple[QueueRef, ...]]:
    """(destination, sources): the destination is ``None`` when the move task cannot be used
    because the DLQ serves several (or no) queues and no ``to`` was given."""
    sources = await queues.sources_of(dlq)
    if to is not None:
        destination = await queues.resolve(to)
        if destination.arn == dlq.arn:
            raise SettingsError(f"--to: cannot redrive {dlq.name} into itself")
        return destination, sources
    return (sources[0] if len(sources) == 1 else None), sources


async def start_move_task(
    aws: AwsClients,
    queue: str,
    *,
    topology: Topology | None = None,
    env: str | None = None,
    to: str | None = None,
    rate: int | None = None,
) -> MoveTask:
    """Start moving every message of DLQ ``queue`` to ``to`` (default: its only source queue)."""
    queues = Queues(aws, topology, env)
    dlq = await queues.resolve(queue)
    destination, sources = await move_destination(queues, dlq, to)
    if destination is None:
        names = ", ".join(s.name for s in sources) or "none known"
        raise SettingsError(
            f"{dlq.name} serves several queues ({names}): name one with --to, or use a "
            "selective redrive (--filter), which sends each message back to where it failed"
        )
    if rate is not None and not 1 <= rate <= MAX_RATE:
        raise SettingsError(f"--rate: the move task takes 1 to {MAX_RATE} messages per second")
    kwargs: dict[str, Any] = {"SourceArn": dlq.arn, "DestinationArn": destination.arn}
    if rate is not None:
        kwargs["MaxNumberOfMessagesPerSecond"] = rate
    with aws_errors("StartMessageMoveTask"):
        answer = await aws.sqs.start_message_move_task(**kwargs)
    return MoveTask(handle=answer["TaskHandle"], source=dlq, destination=destination)


async def move_task_status(aws: AwsClients, task: MoveTask) -> MoveTaskStatus:
    """The task's progress (the newest task of its source queue: SQS runs one at a time)."""
    with aws_errors("ListMessageMoveTasks"):
        answer = await aws.sqs.list_message_move_tasks(SourceArn=task.source.arn, MaxResults=10)
    entries = [dict(e) for e in answer.get("Results", [])]
    for entry in entries:
        if entry.get("TaskHandle") == task.handle:
            return MoveTaskStatus.from_entry(entry)
    if entries:
        return MoveTaskStatus.from_entry(entries[0])
    raise AwsError(f"no move task found for {task.source.name}", code="NotFound")


async def follow(
    aws: AwsClients, task: MoveTask, *, interval: float = 1.0
) -> AsyncIterator[MoveTaskStatus]:
    """Yield the task's status every ``interval`` seconds until it completes, fails or is cancelled."""
    while True:
        status = await move_task_status(aws, task)
        yield status
        if status.done:
            return
        await asyncio.sleep(interval)


async def cancel_move_task(aws: AwsClients, task: MoveTask) -> int:
    """Cancel a running task; returns how many messages it had moved."""
    with aws_errors("CancelMessageMoveTask"):
        answer = await aws.sqs.cancel_message_move_task(TaskHandle=task.handle)
    return int(answer.get("ApproximateNumberOfMessagesMoved", 0))
