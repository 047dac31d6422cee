"""Whole-queue redrive with SQS's own message move task (StartMessageMoveTask), followed with
ListMessageMoveTasks and cancellable with CancelMessageMoveTask.

SQS moves messages back to "their original source" only for messages its own redrive policy put in
the DLQ; messages the bus worker dead-lettered were sent there, so bus always names the destination:
``to``, or the DLQ's only source queue. A DLQ that serves several queues is redriven by copy (see
``bus.dlq.redrive``), each message to the queue its ``bus.failure`` names.

Starting and following a task is one guarded unit, ``MoveTaskRun``: once SQS may have started the
task, any way out but its end (Ctrl-C, a cancelled task, an error while following it) cancels it
(CancelMessageMoveTask) before the exception goes on, unless the caller chooses to keep it running.
That includes an interruption while the StartMessageMoveTask call is on its way: the answer is
awaited and the task it started is cancelled, so no task is left running that the caller never saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import structlog

from bus.aws import AwsClients, aws_errors
from bus.dlq.queues import QueueRef, Queues
from bus.errors import AwsError, SettingsError
from bus.topology.model import Topology

log = structlog.get_logger("bus.dlq")

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
    """Start moving every message of DLQ ``queue`` to ``to`` (default: its only source queue).

    Interrupted while the StartMessageMoveTask call is on its way, it waits for the answer and
    cancels the task SQS started before the interruption goes on. To follow the task and have it
    cancelled on any interruption after it started, use ``MoveTaskRun``."""
    dlq, destination, kwargs = await _prepare(aws, queue, topology, env, to, rate)
    return await _start(aws, dlq, destination, kwargs)


async def _prepare(
    aws: AwsClients,
    queue: str,
    topology: Topology | None,
    env: str | None,
    to: str | None,
    rate: int | None,
) -> tuple[QueueRef, QueueRef, dict[str, Any]]:
    """(DLQ, destination, StartMessageMoveTask arguments); nothing is started yet."""
    queues = Queues(aws, topology, env)
    dlq = await queues.resolve(queue)
    destination, sources = await move_destination(queues, dlq, to)
    if not sources:
        raise SettingsError(
            f"{dlq.name} is no SQS queue's dead-letter queue (SNS or EventBridge may dead-letter "
            "into it), and SQS's message move task moves only from those: use a selective "
            "redrive, which copies each message, then deletes it"
        )
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
    return dlq, destination, kwargs


async def _start(
    aws: AwsClients,
    dlq: QueueRef,
    destination: QueueRef,
    kwargs: dict[str, Any],
    on_orphan: Callable[[MoveTask, int | None], None] | None = None,
) -> MoveTask:
    """StartMessageMoveTask. Cancelled (or Ctrl-C) while the call is on its way, it still waits for
    the answer, cancels the task it started (``on_orphan(task, moved)``, ``moved`` ``None`` if the
    cancel failed), then re-raises."""

    async def call() -> MoveTask:
        with aws_errors("StartMessageMoveTask"):
            answer = await aws.sqs.start_message_move_task(**kwargs)
        return MoveTask(handle=answer["TaskHandle"], source=dlq, destination=destination)

    started = asyncio.ensure_future(call())
    try:
        return await asyncio.shield(started)
    except BaseException:
        orphan = await _answer(started)
        if orphan is not None:
            moved = await asyncio.shield(_cancel_quietly(aws, orphan))
            if on_orphan is not None:
                on_orphan(orphan, moved)
        raise


async def _answer(started: asyncio.Future[MoveTask]) -> MoveTask | None:
    """The task a StartMessageMoveTask call started, waiting for its answer if it is still on its
    way; ``None`` if the call failed (nothing was started)."""
    try:
        return await asyncio.shield(started)
    except Exception:
        return None


async def _cancel_quietly(aws: AwsClients, task: MoveTask) -> int | None:
    """Cancel ``task``; ``None`` (logged) when SQS refused, e.g. because it had ended already."""
    try:
        return await cancel_move_task(aws, task)
    except AwsError as exc:
        log.warning(
            "move task not cancelled", queue=task.source.name, code=exc.code, error=str(exc)
        )
        return None


async def move_task_status(aws: AwsClients, task: MoveTask) -> MoveTaskStatus:
    """The task's progress (the newest task of its source queue: SQS runs one at a time)."""
    with aws_errors("ListMessageMoveTasks"):
        answer = await aws.sqs.list_message_move_tasks(SourceArn=task.source.arn, MaxResults=10)
    entries = [dict(e) for e in answer.get("Results", [])]
    for entry in entries:
        if entry.get("TaskHandle") == task.handle:
            return MoveTaskStatus.from_entry(entry)
    if entries:
        # SQS lists a task's TaskHandle only while it is running; once it has ended, the newest
        # entry (first; SQS runs one task per source queue at a time) is the one that was ours.
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


KeepRunning = Callable[[BaseException], bool]
"""Asked, when a ``MoveTaskRun`` is left by ``exc`` while its task may still run, whether to leave
the task running (``True``) instead of cancelling it."""


class MoveTaskRun:
    """Start a message move task and follow it as one guarded unit::

        run = MoveTaskRun(aws, "billing-dlq", topology=topology, env="dev")
        async with run:                       # starts the task
            async for status in run.follow():
                ...

    Leaving the block by an exception (Ctrl-C, cancellation, an error while following) while the
    task may still be running cancels it (CancelMessageMoveTask) before the exception goes on,
    unless ``keep_running(exc)`` returns ``True``; so does an interruption of the start itself
    once SQS may have started the task. ``cancelled`` then holds how many messages SQS had moved
    (``None`` if nothing was cancelled, or the cancel failed: see ``cancel_failed``).
    """

    def __init__(
        self,
        aws: AwsClients,
        queue: str,
        *,
        topology: Topology | None = None,
        env: str | None = None,
        to: str | None = None,
        rate: int | None = None,
        keep_running: KeepRunning | None = None,
    ) -> None:
        self.aws = aws
        self.queue = queue
        self.topology = topology
        self.env = env
        self.to = to
        self.rate = rate
        self.keep_running = keep_running
        self.task: MoveTask | None = None
        self.last: MoveTaskStatus | None = None
        """The newest status ``follow`` saw."""
        self.cancelled: int | None = None
        """Messages moved when this run cancelled its task; ``None`` if it did not."""
        self.cancel_failed = False
        """This run tried to cancel its task and SQS refused (it may have ended meanwhile)."""

    async def __aenter__(self) -> MoveTaskRun:
        dlq, destination, kwargs = await _prepare(
            self.aws, self.queue, self.topology, self.env, self.to, self.rate
        )
        self.task = await _start(self.aws, dlq, destination, kwargs, on_orphan=self._cancelled)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task = self.task
        if exc is None or task is None or (self.last is not None and self.last.done):
            return
        if self.keep_running is not None and self.keep_running(exc):
            return
        self._cancelled(task, await asyncio.shield(_cancel_quietly(self.aws, task)))

    def _cancelled(self, task: MoveTask, moved: int | None) -> None:
        self.task = task
        self.cancelled = moved
        self.cancel_failed = moved is None

    async def follow(self, *, interval: float = 1.0) -> AsyncIterator[MoveTaskStatus]:
        """The task's status every ``interval`` seconds until it ends (see ``follow``)."""
        if self.task is None:
            raise RuntimeError("MoveTaskRun.follow() outside `async with`")
        async for status in follow(self.aws, self.task, interval=interval):
            self.last = status
            yield status
