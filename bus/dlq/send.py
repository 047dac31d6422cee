"""Sending copies of dead letters: SendMessageBatch entries that keep body, message attributes,
trace header and FIFO ids, packed under SQS's request size limit, with per-entry results."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bus.aws import AwsClients, aws_errors
from bus.dlq.queues import QueueRef
from bus.dlq.scan import BATCH, BatchOutcome

MAX_REQUEST_BYTES = 262_144
"""SendMessageBatch's limit on the sum of its entries (bodies plus attributes)."""


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
        size = len(self.body.encode())
        for name, attr in self.attributes.items():
            size += len(name.encode()) + len(str(attr.get("DataType", "")).encode())
            value = attr.get("StringValue", attr.get("BinaryValue", b""))
            size += len(value.encode() if isinstance(value, str) else bytes(value))
        return size


def clean_attributes(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Message attributes as ReceiveMessage returns them, in the shape SendMessage accepts."""
    out: dict[str, dict[str, Any]] = {}
    for name, attr in raw.items():
        entry: dict[str, Any] = {"DataType": attr["DataType"]}
        if "StringValue" in attr:
            entry["StringValue"] = attr["StringValue"]
        elif "BinaryValue" in attr:
            entry["BinaryValue"] = attr["BinaryValue"]
        else:
            continue
        out[name] = entry
    return out


def deduplication_id(prefix: str, *parts: str) -> str:
    """A deduplication id that is stable for the same input and never equals the original one.

    Reusing the original MessageDeduplicationId would make SQS drop the copy as a duplicate when it
    goes back to its source queue within the 5-minute deduplication window: a lost message.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
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
    """Consecutive groups of at most 10 entries and ``max_bytes``, in order."""
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


def _entry(index: int, item: Outgoing, queue: QueueRef) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": str(index), "MessageBody": item.body}
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
    if item.size > MAX_REQUEST_BYTES * 4:
        return f"message of {item.size} bytes is over SQS's size limit"
    return None


async def send_batch(aws: AwsClients, queue: QueueRef, items: Sequence[Outgoing]) -> BatchOutcome:
    """Send ``items`` (in order) with SendMessageBatch; the outcome lists them by ``key``."""
    outcome = BatchOutcome()
    for group in pack(items):
        entries = [_entry(i, item, queue) for i, item in enumerate(group)]
        with aws_errors("SendMessageBatch"):
            answer = await aws.sqs.send_message_batch(QueueUrl=queue.url, Entries=entries)  # type: ignore[arg-type]
        for ok in answer.get("Successful", []):
            outcome.ok.append(group[int(ok["Id"])].key)
        for failed in answer.get("Failed", []):
            reason = f"{failed.get('Code')}: {failed.get('Message', '')}".rstrip(": ")
            outcome.failed[group[int(failed["Id"])].key] = reason
    return outcome
