"""One SQS queue's state and rules: visibility, receive counts, delays, FIFO groups, dedup.

A message is *visible* when ``visible_at`` has passed, *in flight* when it has been received and
its visibility timeout has not run out, *delayed* when it was never received and is not visible
yet. On a FIFO queue a message group is blocked while an earlier message of it is in flight (or
delayed), and a deduplication id seen in the last five minutes makes a send a no-op.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

DEDUP_WINDOW = 300.0
MAX_MESSAGES = 10
DEFAULTS: dict[str, str] = {
    "VisibilityTimeout": "30",
    "MaximumMessageSize": "1048576",
    "MessageRetentionPeriod": "345600",
    "DelaySeconds": "0",
    "ReceiveMessageWaitTimeSeconds": "0",
    "SqsManagedSseEnabled": "true",
}
FIFO_DEFAULTS: dict[str, str] = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}


@dataclass(eq=False, slots=True)
class Message:
    """One message as SQS holds it."""

    id: str
    body: str
    attributes: dict[str, Any]
    """Message attributes, in SendMessage's shape (``{"DataType": ..., "StringValue": ...}``)."""
    sent_ms: int
    visible_at: float
    group_id: str | None = None
    dedup_id: str | None = None
    sequence: str | None = None
    sender_id: str = ""
    receive_count: int = 0
    first_receive_ms: int | None = None
    receipt: str | None = None
    source_arn: str | None = None
    """The queue SQS's redrive moved it from (``DeadLetterQueueSourceArn``)."""

    @property
    def md5_body(self) -> str:
        return hashlib.md5(self.body.encode()).hexdigest()

    def in_flight(self, now: float) -> bool:
        return self.receive_count > 0 and self.visible_at > now

    def system_attributes(self) -> dict[str, str]:
        out = {
            "SenderId": self.sender_id,
            "SentTimestamp": str(self.sent_ms),
            "ApproximateReceiveCount": str(self.receive_count),
            "ApproximateFirstReceiveTimestamp": str(self.first_receive_ms or self.sent_ms),
        }
        if self.group_id is not None:
            out["MessageGroupId"] = self.group_id
        if self.dedup_id is not None:
            out["MessageDeduplicationId"] = self.dedup_id
        if self.sequence is not None:
            out["SequenceNumber"] = self.sequence
        if self.source_arn is not None:
            out["DeadLetterQueueSourceArn"] = self.source_arn
        return out


def attributes_md5(attributes: Mapping[str, Any]) -> str | None:
    """SQS's MD5 of message attributes (names sorted; each part length-prefixed)."""
    if not attributes:
        return None
    digest = hashlib.md5()

    def part(data: bytes) -> None:
        digest.update(struct.pack(">I", len(data)) + data)

    for name in sorted(attributes):
        value = attributes[name]
        data_type = str(value.get("DataType", "String"))
        part(name.encode())
        part(data_type.encode())
        if data_type.startswith("Binary"):
            digest.update(b"\x02")
            raw = value.get("BinaryValue", b"")
            part(raw if isinstance(raw, bytes) else str(raw).encode())  # text: as botocore sends it
        else:
            digest.update(b"\x01")
            part(str(value.get("StringValue", "")).encode())
    return digest.hexdigest()


def utf8_len(text: str) -> int:
    """``len(text.encode())``, without the copy for ASCII text (the usual JSON body)."""
    return len(text) if text.isascii() else len(text.encode())


@dataclass(eq=False)
class Queue:
    """A queue's attributes, tags and messages (in arrival order)."""

    name: str
    url: str
    arn: str
    attributes: dict[str, str]
    tags: dict[str, str]
    created: int
    modified: int
    messages: dict[str, Message] = field(default_factory=dict)
    dedup: dict[str, tuple[float, str, str | None]] = field(default_factory=dict)
    """Deduplication id -> (expires at, message id, sequence number) on FIFO queues."""
    purged_at: float | None = None
    _waiters: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoQueue", "false") == "true"

    def number(self, attribute: str) -> int:
        return int(self.attributes.get(attribute, DEFAULTS.get(attribute, "0")))

    # -- waking long polls ------------------------------------------------------------------------

    def notify(self) -> None:
        """Wake every receive waiting on this queue (something may have become visible)."""
        if not self._waiters:
            return
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, seconds: float) -> None:
        """Wait up to ``seconds`` for ``notify``."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait([waiter], timeout=seconds)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    # -- counting ---------------------------------------------------------------------------------

    def counts(self, now: float) -> tuple[int, int, int]:
        """(visible, in flight, delayed) messages."""
        visible = in_flight = delayed = 0
        for m in self.messages.values():
            if m.visible_at <= now:
                visible += 1
            elif m.receive_count:
                in_flight += 1
            else:
                delayed += 1
        return visible, in_flight, delayed

    def next_visible(self, now: float) -> float | None:
        """When the next message that is not visible now becomes visible."""
        later = [m.visible_at for m in self.messages.values() if m.visible_at > now]
        return min(later) if later else None

    # -- FIFO deduplication -----------------------------------------------------------------------

    def duplicate(self, dedup_id: str, now: float) -> tuple[str, str | None] | None:
        """(message id, sequence number) of the message sent with ``dedup_id`` in the window."""
        seen = self.dedup.get(dedup_id)
        if seen is None:
            return None
        if seen[0] <= now:
            del self.dedup[dedup_id]
            return None
        return seen[1], seen[2]

    def remember(self, message: Message, now: float) -> None:
        if message.dedup_id is not None:
            self.dedup[message.dedup_id] = (now + DEDUP_WINDOW, message.id, message.sequence)
        if len(self.dedup) > 1024:
            self.dedup = {k: v for k, v in self.dedup.items() if v[0] > now}

    # -- receiving --------------------------------------------------------------------------------

    def candidates(self, now: float) -> Iterator[Message]:
        """Messages a receive may take now, in order (FIFO: not behind an in-flight or delayed
        message of their group)."""
        blocked: set[str | None] = set()
        for m in list(self.messages.values()):
            if m.visible_at > now:
                if self.fifo:
                    blocked.add(m.group_id)
                continue
            if self.fifo and m.group_id in blocked:
                continue
            yield m
