"""Selective redrive: copy chosen dead letters to a queue, then delete exactly the copies that were
sent. (The whole queue goes back with SQS's own message move task: ``bus.dlq.movetask``.)

For each batch received from the DLQ: select, send the selected messages to their destination
(SendMessageBatch, entries SQS failed on its side sent again a few times: ``bus.dlq.send``), then
delete from the DLQ only the entries whose send succeeded. Messages not selected, not sendable, or
of a FIFO group that hit a failure stay in the DLQ; they stay hidden until the redrive ends, then
become visible again. Killed at any moment, a redrive loses nothing: a message is deleted only
after its copy was accepted, so at most the batches in flight (``concurrency`` batches of 10; 1 by
default, and always 1 on FIFO queues) exist twice, once in the DLQ and once at the destination. A
copy whose delete from the DLQ failed is in both queues (``RedriveReport.not_deleted``).

FIFO: once a message of a group could not be sent, no later message of that group is sent
(``held_back``). If SQS accepted later messages of the group in the same SendMessageBatch call as
the failed one, those were delivered ahead of it: they are deleted from the DLQ (they were copied)
and the group is reported in ``out_of_order``. A scan cannot see messages in flight elsewhere, nor
(FIFO) past messages it holds in a group (SQS's rule): what it never reached is ``unreached``.

A worker that fails stops the others (``concurrency`` > 1) before the error propagates and the held
messages are let go.

Destination of each message, unless ``to`` is given: the queue named in its ``bus.failure``
attribute (where it failed), else the source SQS recorded (``DeadLetterQueueSourceArn``), else the
one queue the DLQ serves (its only source queue; for the DLQ of an SNS subscription or a rule
target, the subscribed or target queue, unless the target transforms its input:
``Queues.only_destination``). EventBridge's ``TARGET_ARN`` attribute is never used: a sender can
set it. Messages keep body, message attributes (``bus.failure`` included, so a
message that dies again keeps its ``first_failed_at``), trace header and FIFO group; the
deduplication id on a FIFO destination is derived from the DLQ message id (see ``send``).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from bus.aws import AwsClients
from bus.aws.backoff import RetryConfig
from bus.aws.sqs import clean_attributes
from bus.dlq.letter import DlqMessage
from bus.dlq.queues import QueueRef, Queues
from bus.dlq.scan import DEFAULT_HOLD_SECONDS, DEFAULT_WAIT_SECONDS, Scan
from bus.dlq.select import Selection
from bus.dlq.send import (
    SEND_RETRY,
    Outgoing,
    Pacer,
    deduplication_id,
    pack,
    refusal,
    send_entries,
)
from bus.dlq.traced import NO_LINKS, moving_span
from bus.errors import SettingsError
from bus.topology.model import Topology

log = structlog.get_logger("bus.dlq")


@dataclass(frozen=True)
class RedriveOptions:
    """How a selective redrive runs."""

    to: str | None = None
    """Destination for every message (topology name, physical name or URL)."""
    selection: Selection = field(default_factory=Selection)
    limit: int | None = None
    """Redrive at most this many messages."""
    rate: float | None = None
    """At most this many messages per second."""
    dry_run: bool = False
    concurrency: int = 1
    """Batches in flight at once on a standard queue (FIFO queues always use 1)."""
    hold_seconds: int = DEFAULT_HOLD_SECONDS
    """How long received messages stay invisible if the process dies before letting them go."""
    wait_seconds: int = DEFAULT_WAIT_SECONDS
    retry: RetryConfig = SEND_RETRY
    """How entries SQS failed on its side are sent again."""


@dataclass
class RedriveReport:
    """What a redrive did (or, with ``dry_run``, would do)."""

    queue: str
    dry_run: bool = False
    scanned: int = 0
    selected: int = 0
    moved: int = 0
    """Sent to the destination and deleted from the DLQ."""
    not_deleted: dict[str, str] = field(default_factory=dict)
    """Sent, but the delete failed: now in both queues, so it is delivered twice if it is
    redriven again (message id -> reason)."""
    failed: dict[str, str] = field(default_factory=dict)
    """Not sent, still in the DLQ (message id -> reason)."""
    held_back: int = 0
    """FIFO: not sent (still in the DLQ) because an earlier message of its group failed."""
    out_of_order: set[str] = field(default_factory=set)
    """FIFO groups whose later messages SQS accepted in the same call as an earlier one that
    failed: those were delivered (and deleted from the DLQ) ahead of it."""
    unreached: int = 0
    """About how many messages of the DLQ the scan never received: in flight elsewhere, or (FIFO)
    behind messages it held in their group (see ``bus.dlq.scan``)."""
    destinations: Counter[str] = field(default_factory=Counter)

    @property
    def skipped(self) -> int:
        return self.scanned - self.selected

    @property
    def complete(self) -> bool:
        """Everything selected was moved, and every message of the DLQ was looked at."""
        return not (self.failed or self.not_deleted or self.held_back or self.unreached)


Progress = Callable[[RedriveReport], None]


class _Destinations:
    """Where each dead letter goes back to."""

    def __init__(self, queues: Queues, dlq: QueueRef, to: QueueRef | None) -> None:
        self.queues = queues
        self.dlq = dlq
        self.to = to
        self._only: QueueRef | str | None = None

    async def of(self, letter: DlqMessage) -> QueueRef | str:
        """The destination queue, or the reason there is none."""
        if self.to is not None:
            return self.to
        for named in (letter.failure.queue, letter.dead_letter_source_arn):
            if named:
                queue = await self.queues.by_name(named)
                if queue is None:
                    return f"its source queue {named} does not exist: use --to"
                if queue.arn == self.dlq.arn:
                    return "its recorded source is the DLQ itself: use --to"
                return queue
        if self._only is None:
            self._only = await self.queues.only_destination(self.dlq)
        return self._only


def outgoing(letter: DlqMessage, dlq: QueueRef) -> Outgoing:
    """The copy of ``letter`` that a redrive sends."""
    return Outgoing(
        key=letter.message_id,
        body=letter.body,
        attributes=clean_attributes(letter.message_attributes),
        group_id=letter.group_id,
        deduplication_id=deduplication_id("redrive", dlq.arn, letter.message_id),
        trace_header=letter.system_attributes.get("AWSTraceHeader"),
    )


class _Redrive:
    def __init__(
        self,
        aws: AwsClients,
        scan: Scan,
        destinations: _Destinations,
        options: RedriveOptions,
        progress: Progress | None,
    ) -> None:
        self.aws = aws
        self.scan = scan
        self.destinations = destinations
        self.options = options
        self.progress = progress
        self.report = RedriveReport(queue=scan.queue.name, dry_run=options.dry_run)
        self.pacer = Pacer(options.rate)
        self.stopped_groups: set[str] = set()
        self.now = datetime.now(UTC)
        self.links = NO_LINKS
        """The redrive's span links each message it moved (``bus.dlq.traced``)."""

    async def run(self) -> RedriveReport:
        workers = 1 if self.scan.queue.fifo else max(1, self.options.concurrency)
        if workers == 1:
            await self._worker()
        else:
            # A worker that raises cancels its siblings before the scan lets the messages go.
            try:
                async with asyncio.TaskGroup() as tasks:
                    for _ in range(workers):
                        tasks.create_task(self._worker())
            except BaseExceptionGroup as group:
                error = _first(group)
                raise error from error.__cause__
        self.report.unreached = self.scan.unreached
        return self.report

    async def _worker(self) -> None:
        while (batch := await self.scan.next_batch()) is not None:
            await self._batch(batch)
            if self.progress is not None:
                self.progress(self.report)

    def _choose(self, batch: Sequence[DlqMessage]) -> list[DlqMessage]:
        """The selected letters of a batch, up to the limit (no await: safe across workers)."""
        report, limit = self.report, self.options.limit
        report.scanned += len(batch)
        chosen: list[DlqMessage] = []
        for letter in batch:
            if limit is not None and report.selected >= limit:
                self.scan.stop()
                break
            if self.options.selection.matches(letter, self.now):
                report.selected += 1
                chosen.append(letter)
        return chosen

    async def _batch(self, batch: Sequence[DlqMessage]) -> None:
        routed: dict[str, tuple[QueueRef, list[DlqMessage]]] = {}
        for letter in self._choose(batch):
            group = letter.group_id
            if group is not None and group in self.stopped_groups:
                self.report.held_back += 1
                continue
            destination = await self.destinations.of(letter)
            if isinstance(destination, str):
                self._fail(letter, destination)
                continue
            item = outgoing(letter, self.scan.queue)
            problem = refusal(item, destination)
            if problem:
                self._fail(letter, problem)
                continue
            routed.setdefault(destination.arn, (destination, []))[1].append(letter)
        for destination, letters in routed.values():
            await self._move(destination, letters)

    def _fail(self, letter: DlqMessage, reason: str) -> None:
        self.report.failed[letter.message_id] = reason
        if letter.group_id is not None:
            self.stopped_groups.add(letter.group_id)

    async def _move(self, destination: QueueRef, letters: list[DlqMessage]) -> None:
        if self.options.dry_run:
            self.report.destinations[destination.name] += len(letters)
            return
        by_id = {letter.message_id: letter for letter in letters}
        for part in pack([outgoing(d, self.scan.queue) for d in letters]):
            # A FIFO group that failed in an earlier call is not continued.
            held = {
                i.key for i in part if i.group_id is not None and i.group_id in self.stopped_groups
            }
            self.report.held_back += len(held)
            part = [i for i in part if i.key not in held]
            if part:
                await self._send_then_delete(destination, part, by_id)

    async def _send_then_delete(
        self, destination: QueueRef, part: list[Outgoing], by_id: dict[str, DlqMessage]
    ) -> None:
        """One SendMessageBatch (with its retries), then the delete of exactly what it sent."""
        await self.pacer.take(len(part))
        sent = await send_entries(self.aws, destination, part, retry=self.options.retry)
        for message_id, reason in sent.failed.items():
            self._fail(by_id[message_id], f"send to {destination.name} failed: {reason}")
        self.report.out_of_order |= sent.out_of_order
        self.report.destinations[destination.name] += len(sent.ok)
        if not sent.ok:
            return
        for message_id in sent.ok:
            letter = by_id[message_id]
            self.links.add(letter.body, letter.system_attributes.get("AWSTraceHeader"))
        deleted = await self.scan.delete([by_id[m] for m in sent.ok])
        self.report.moved += len(deleted.ok)
        self.report.not_deleted.update(deleted.failed)
        if deleted.failed:
            log.warning(
                "redriven but not deleted from the DLQ",
                queue=self.scan.queue.name,
                message_ids=sorted(deleted.failed),
            )


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a failed worker group (the others as notes on it)."""
    errors: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        error = pending.pop(0)
        if isinstance(error, BaseExceptionGroup):
            pending = list(error.exceptions) + pending
        else:
            errors.append(error)
    first = errors[0]
    for other in errors[1:]:
        first.add_note(f"another redrive worker failed too: {other!r}")
    return first


async def redrive_selected(
    aws: AwsClients,
    queue: str,
    *,
    topology: Topology | None = None,
    env: str | None = None,
    options: RedriveOptions | None = None,
    progress: Progress | None = None,
) -> RedriveReport:
    """Copy the selected messages of DLQ ``queue`` back (to their sources or ``options.to``), then
    delete each copy that was sent. Safe to interrupt at any moment (see the module docstring)."""
    opts = options or RedriveOptions()
    queues = Queues(aws, topology, env)
    dlq = await queues.resolve(queue)
    to = await queues.resolve(opts.to) if opts.to else None
    if to is not None and to.arn == dlq.arn:
        raise SettingsError(f"--to: cannot redrive {dlq.name} into itself")
    if to is None:
        await queues.served_destination(dlq)  # refuses an SNS/EventBridge DLQ with nowhere to go
    destinations = _Destinations(queues, dlq, to)
    scanning = Scan(aws, dlq, hold_seconds=opts.hold_seconds, wait_seconds=opts.wait_seconds)
    with moving_span("redrive", dlq.name) as links:
        async with scanning as scan:
            redrive = _Redrive(aws, scan, destinations, opts, progress)
            redrive.links = links
            return await redrive.run()
