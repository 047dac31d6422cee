"""The publish side of the claim check: a publish middleware that stores large events in S3.

The ``Publisher`` of a topology with a ``claim_check`` section puts ``ClaimCheck`` last (innermost)
in its publish middlewares. Each event is prepared as usual, without the size check; then an event
over the limit of one of its destinations (``bus.aws.limits``, a queue's own
``maximum_message_size``), or over ``claim_check.threshold``, is stored as one S3 object (its
envelope id is the key) and travels as the extended clients' pointer with the
``ExtendedPayloadSize`` attribute (``bus.claimcheck.pointer``). Its other attributes stay on the
message, so SNS filter policies on attributes still apply; a filter on the body sees the pointer.

EventBridge cannot carry a pointer (a ``PutEvents`` ``Detail`` is a JSON object, the pointer an
array): an event with an EventBridge destination is never offloaded, and over the bus's limit it is
refused as before.

The objects are written concurrently (at most ``PUTS_IN_FLIGHT`` at a time, so at most that many
bodies wait in memory), while later events are prepared: ``event`` starts the upload, and ``batch``
waits for the uploads of its entries before the batch call, so no pointer is sent before its
object exists. A failed upload fails the entries of its batch with S3's error code (``publish``
raises ``PublishError``, ``publish_many`` reports them); an object whose send then fails stays
until the bucket's lifecycle rule expires it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bus.aws.limits import MESSAGE_ATTRIBUTES
from bus.aws.s3 import put_payload
from bus.claimcheck.pointer import SIZE_ATTRIBUTE, Pointer, size_attribute
from bus.errors import MessageTooLargeError
from bus.middleware.publish import NextBatch, NextEvent, Outgoing, OutgoingBatch, PublishMiddleware
from bus.publish.prepare import Prepared, check_size
from bus.topology.model import physical_name

if TYPE_CHECKING:
    from bus.claimcheck.resolve import HasS3
    from bus.topology.claim_model import ClaimCheck as ClaimCheckSection

PUTS_IN_FLIGHT = 8
"""Uploads running at once (each holds its event's body until it is written)."""


@dataclass
class _Upload:
    task: asyncio.Task[None]
    batches: int
    """Batch calls still to wait for it: one per destination (retries find it done)."""


class ClaimCheck(PublishMiddleware):
    """Offloads each event that is too large for a destination (or over ``threshold``) to S3."""

    def __init__(
        self, aws: HasS3, bucket: str, *, threshold: int | None = None, max_size: int
    ) -> None:
        self._aws = aws
        self.bucket = bucket
        self.threshold = threshold
        self.max_size = max_size
        self._uploads: dict[str, _Upload] = {}
        self._slots = asyncio.Semaphore(PUTS_IN_FLIGHT)

    @classmethod
    def of(cls, aws: HasS3, section: ClaimCheckSection, env: str | None) -> ClaimCheck:
        """The middleware for topology.yaml's ``claim_check`` section in ``env``."""
        bucket = physical_name(section.bucket, env)
        return cls(aws, bucket, threshold=section.threshold, max_size=section.max_size)

    async def event(self, outgoing: Outgoing, call_next: NextEvent) -> None:
        outgoing.check_size = False
        await call_next(outgoing)
        prepared = outgoing.prepared
        if prepared is None:
            return
        if self.wanted(prepared):
            outgoing.prepared = await self.offload(prepared)
            return
        check_unclaimed(prepared)

    async def batch(self, batch: OutgoingBatch, call_next: NextBatch) -> None:
        """Wait for the uploads of the batch's entries (an upload's error fails the batch)."""
        waits = []
        for entry in batch.entries:
            upload = self._uploads.get(entry.id)
            if upload is None:
                continue
            upload.batches -= 1
            if upload.batches <= 0:
                del self._uploads[entry.id]
            waits.append(upload.task)
        if waits:
            await asyncio.gather(*waits)
        await call_next(batch)

    def wanted(self, prepared: Prepared) -> bool:
        """Whether ``prepared`` goes through S3: over a destination's limit or the threshold, and
        to no EventBridge bus."""
        return wanted(prepared, self.threshold)

    async def offload(self, prepared: Prepared) -> Prepared:
        """Start storing the body; the prepared message that points to it."""
        check_offloadable(prepared, self.max_size)
        pointer = Pointer(self.bucket, prepared.id)
        await self._slots.acquire()
        task = asyncio.create_task(self._put(pointer, prepared.body.encode()))
        task.add_done_callback(_retrieve)
        self._uploads[prepared.id] = _Upload(task, len(prepared.channels))
        marker = size_attribute(prepared.body_bytes)
        body = pointer.body()
        attributes = {**prepared.attributes, SIZE_ATTRIBUTE: marker}
        extra = len(SIZE_ATTRIBUTE) + len(marker["DataType"]) + len(marker["StringValue"])
        pointed = dataclasses.replace(
            prepared,
            body=body,
            body_bytes=len(body.encode()),
            attributes=attributes,
            attributes_bytes=prepared.attributes_bytes + extra,
        )
        check_size(pointed)
        return pointed

    async def _put(self, pointer: Pointer, body: bytes) -> None:
        try:
            await put_payload(self._aws.s3, pointer.bucket, pointer.key, body)
        finally:
            self._slots.release()


def wanted(prepared: Prepared, threshold: int | None) -> bool:
    """Whether ``prepared`` goes through S3: over a destination's limit or ``threshold``, and to
    no EventBridge bus."""
    if any(c.kind == "bus" for c in prepared.channels):
        return False
    size = prepared.body_bytes + prepared.attributes_bytes
    if threshold is not None and size > threshold:
        return True
    return any(prepared.entry_size(c) > c.limit for c in prepared.channels)


def check_offloadable(prepared: Prepared, max_size: int) -> None:
    """``MessageTooLargeError`` when ``prepared`` cannot go through S3 either: over
    ``claim_check.max_size``, or no room left for the pointer's size attribute."""
    name = f"{prepared.spec.name} {prepared.id}"
    if prepared.body_bytes > max_size:
        raise MessageTooLargeError(
            f"{name}: encoded size {prepared.body_bytes} bytes is over the claim check's "
            f"{max_size}-byte limit (claim_check.max_size)"
        )
    if len(prepared.attributes) >= MESSAGE_ATTRIBUTES:
        raise MessageTooLargeError(
            f"{name}: too large for its destinations, and its {len(prepared.attributes)} "
            f"message attributes leave no room for {SIZE_ATTRIBUTE} (at most "
            f"{MESSAGE_ATTRIBUTES})"
        )


def check_unclaimed(prepared: Prepared) -> None:
    """The size check of an event that does not go through S3."""
    try:
        check_size(prepared)
    except MessageTooLargeError as exc:
        if any(c.kind == "bus" for c in prepared.channels):
            exc.add_note("EventBridge carries no claim-check pointer: it was not stored in S3")
        raise


def check_claimable(prepared: Prepared, section: ClaimCheckSection) -> None:
    """What ``ClaimCheck`` will decide for ``prepared``, decided without AWS: nothing when it will
    be sent (as it is, or through S3), else the ``MessageTooLargeError`` it would raise. The
    transactional outbox checks an event with it when it is added, so that a large event of a
    topology with a claim check is stored and offloaded by the relay, not refused."""
    if wanted(prepared, section.threshold):
        check_offloadable(prepared, section.max_size)
    else:
        check_unclaimed(prepared)


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark an upload's error as seen: its batch re-raises it; a call aborted before its batch
    (cancelled) never will."""
    if not task.cancelled():
        task.exception()
