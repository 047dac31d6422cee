"""Sending copies of dead letters: SendMessageBatch entries that keep body, message attributes,
trace header and FIFO ids, packed under SQS's request size limit, with per-entry results.

An entry SQS refuses for its own reasons (``SenderFault: false``: a server error, throttling) is
sent again, up to ``RetryConfig.attempts`` times with backoff (``SEND_RETRY`` by default). That is safe: a copy keeps its
deduplication id, and a refused entry was not enqueued. On a FIFO queue an entry is sent again only
when no later entry of its group was accepted in the same call (else the retry itself would land
behind them); once an entry of a group has failed for good, no later entry of that group is sent
(``SendOutcome.held_back``), and a group of which SQS accepted a later entry in the same call is
reported in ``SendOutcome.out_of_order``: those later entries are delivered ahead of the failed one.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bus.aws import AwsClients
from bus.aws.backoff import RetryConfig
from bus.aws.limits import SQS_BATCH_BYTES, SQS_INVALID_TEXT, SQS_MESSAGE_BYTES, message_size
from bus.aws.sqs import BATCH, NO_RESULT, QueueOps, SendAnswer
from bus.dlq.queues import QueueRef
from bus.dlq.scan import BatchOutcome
from bus.errors import AwsError

MAX_MESSAGE_BYTES = SQS_MESSAGE_BYTES
"""The largest message SQS accepts on any queue (``bus.aws.limits``): ``refusal`` refuses a larger
one before any call. A queue set to a lower ``MaximumMessageSize`` refuses a message over it as its
own entry (SenderFault), which then stays in the DLQ, reported."""
MAX_REQUEST_BYTES = SQS_BATCH_BYTES
"""``pack`` never lets a call exceed it: a whole call failing (BatchRequestTooLong) sends nothing."""
SEND_RETRY = RetryConfig(attempts=3, initial=0.2, maximum=5.0)
"""The default for entries SQS failed on its side: three calls in all, 0.2 s then 0.4 s (jittered)."""


@dataclass
class SendOutcome(BatchOutcome):
    """Per-entry result of sending: ``ok`` and ``failed`` (by key), and on a FIFO queue the keys not
    sent because an earlier entry of their group failed, and the groups delivered out of order."""

    held_back: list[str] = field(default_factory=list)
    out_of_order: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Outgoing:
    """One message to send. ``key`` names it in the outcome (a message id, a line number)."""

    key: str
    body: str
    attributes: Mapping[str, Mapping[str, Any]]
    group_id: str | None = None
    deduplication_id: str | None = None
    trace_header: str | None = None

    @property
    def size(self) -> int:
        """What SQS counts against its limits: body and message attributes."""
        return message_size(self.body, self.attributes)


def deduplication_id(prefix: str, *parts: str) -> str:
    """A deduplication id that is stable for the same input and never equals the original one.

    Reusing the original MessageDeduplicationId would make SQS drop the copy as a duplicate when it
    goes back to its source queue within the 5-minute deduplication window: a lost message.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}-{digest}"


class Pacer:
    """Limits a flow to ``rate`` messages per second (``None``: no limit)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._next = 0.0

    async def take(self, count: int) -> None:
        if not self.rate or count <= 0:
            return
        now = time.monotonic()
        start = max(now, self._next)
        self._next = start + count / self.rate
        if start > now:
            await asyncio.sleep(start - now)


def pack(items: Sequence[Outgoing], max_bytes: int = MAX_REQUEST_BYTES) -> list[list[Outgoing]]:
    """Consecutive groups of at most 10 entries and ``max_bytes``, in order (an entry larger than
    ``max_bytes`` goes alone: ``refusal`` keeps such entries from being sent at all)."""
    out: list[list[Outgoing]] = []
    current: list[Outgoing] = []
    size = 0
    for item in items:
        if current and (len(current) == BATCH or size + item.size > max_bytes):
            out.append(current)
            current, size = [], 0
        current.append(item)
        size += item.size
    if current:
        out.append(current)
    return out


def _entry(item: Outgoing, queue: QueueRef) -> dict[str, Any]:
    entry: dict[str, Any] = {"MessageBody": item.body}
    if item.attributes:
        entry["MessageAttributes"] = dict(item.attributes)
    if item.trace_header:
        entry["MessageSystemAttributes"] = {
            "AWSTraceHeader": {"DataType": "String", "StringValue": item.trace_header}
        }
    if queue.fifo:
        entry["MessageGroupId"] = item.group_id
        entry["MessageDeduplicationId"] = item.deduplication_id
    return entry


def refusal(item: Outgoing, queue: QueueRef) -> str | None:
    """Why ``item`` cannot go to ``queue`` at all, before any call."""
    if queue.fifo and not item.group_id:
        return f"{queue.name} is FIFO and the message has no MessageGroupId"
    if queue.fifo and not item.deduplication_id:
        return f"{queue.name} is FIFO and the message has no deduplication id"
    if item.size > MAX_MESSAGE_BYTES:
        return f"message of {item.size} bytes is over SQS's size limit of {MAX_MESSAGE_BYTES} bytes"
    if not item.body:
        return "the body is empty: SQS refuses a message without one"
    texts = [("body", item.body)] + [
        (f"message attribute {name!r}", str(value.get("StringValue", "")))
        for name, value in item.attributes.items()
    ]
    for where, text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return (
                f"{where} is not valid Unicode (a lone surrogate at character {exc.start}): SQS "
                "cannot hold it"
            )
        bad = SQS_INVALID_TEXT.search(text)
        if bad is not None:
            return (
                f"{where} holds U+{ord(bad.group()):04X} at character {bad.start()}, a character "
                "SQS refuses (it takes XML 1.0's characters only)"
            )
    return None


class QueueSender:
    """Sends messages to one queue, call after call, in as many SendMessageBatch calls as their
    size needs. On a FIFO queue a group that failed for good is not continued, also in later
    ``send`` calls: so a long stream can be sent a part at a time."""

    def __init__(
        self, aws: AwsClients, queue: QueueRef, *, retry: RetryConfig | None = None
    ) -> None:
        self.aws, self.queue, self.retry = aws, queue, retry
        self._stopped: set[str] = set()

    async def send(self, items: Sequence[Outgoing]) -> SendOutcome:
        """Send ``items`` (in order); the outcome lists them by ``key``."""
        outcome = SendOutcome()
        for part in pack(items):
            if self.queue.fifo:
                outcome.held_back += [i.key for i in part if i.group_id in self._stopped]
                part = [i for i in part if i.group_id not in self._stopped]
            if not part:
                continue
            sent = await send_entries(self.aws, self.queue, part, retry=self.retry)
            outcome.ok += sent.ok
            outcome.failed.update(sent.failed)
            outcome.out_of_order |= sent.out_of_order
            self._stopped |= {i.group_id or "" for i in part if i.key in sent.failed}
        return outcome


async def send_batch(
    aws: AwsClients,
    queue: QueueRef,
    items: Sequence[Outgoing],
    *,
    retry: RetryConfig | None = None,
) -> SendOutcome:
    """Send ``items`` (in order), in as many calls as their size needs; the outcome lists them by
    ``key``. On a FIFO queue a group that failed is not continued in later calls."""
    return await QueueSender(aws, queue, retry=retry).send(items)


async def send_entries(
    aws: AwsClients,
    queue: QueueRef,
    items: Sequence[Outgoing],
    *,
    retry: RetryConfig | None = None,
) -> SendOutcome:
    """Send one call's worth of ``items`` (at most 10, under ``MAX_REQUEST_BYTES``), sending the
    entries SQS failed on its side again (see the module docstring)."""
    policy = retry or SEND_RETRY
    ops = QueueOps(aws.sqs, queue.url)
    outcome = SendOutcome()
    pending = list(items)
    for attempt in range(1, policy.attempts + 1):
        try:
            answer = await ops.send_batch([_entry(item, queue) for item in pending])
        except AwsError as exc:
            if attempt == 1:
                raise  # nothing was sent
            # A retry that fails as a whole: keep what the first calls sent, report the rest.
            outcome.failed.update({item.key: str(exc) for item in pending})
            break
        again = _settle(queue, pending, answer, outcome, attempt < policy.attempts)
        if not again:
            break
        pending = again
        await asyncio.sleep(policy.delay(attempt))
    return outcome


def _settle(
    queue: QueueRef,
    pending: Sequence[Outgoing],
    answer: SendAnswer,
    outcome: SendOutcome,
    may_retry: bool,
) -> list[Outgoing]:
    """Record one call's answer in ``outcome``; return the entries to send again, in order."""
    again: list[Outgoing] = []
    failed_groups: set[str] = set()  # FIFO: groups with an entry that failed for good
    for index, item in enumerate(pending):
        group = item.group_id or ""
        failure = answer.failure(index)
        if failure is None:
            outcome.ok.append(item.key)
            if queue.fifo and group in failed_groups:
                outcome.out_of_order.add(group)
            continue
        if failure is NO_RESULT:
            reason, retryable = "SQS reported no result for this entry", False
        else:
            reason, retryable = str(failure), not failure.sender_fault
        if queue.fifo and retryable:
            later = range(index + 1, len(pending))
            accepted_later = any(
                j in answer.accepted and pending[j].group_id == item.group_id for j in later
            )
            retryable = group not in failed_groups and not accepted_later
        if retryable and may_retry:
            again.append(item)
            continue
        outcome.failed[item.key] = reason
        failed_groups.add(group)
    return again
