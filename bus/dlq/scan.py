"""Reading a queue without consuming it: receive, hold, then delete some or let all go at once.

Every message a ``Scan`` receives stays invisible (``hold_seconds``) until the scan ends, so one
pass sees each message once; leaving the scan (normally, on an error, on Ctrl-C) makes every message
it did not delete visible again at once (ChangeMessageVisibilityBatch to 0). A process killed with
SIGKILL leaves them invisible until ``hold_seconds`` have passed: nothing is ever lost.

A pass ends when a receive finds nothing: a short poll first (no waiting), then, unless the scan
has already seen as many messages as the queue reported visible when it began, a long poll of
``wait_seconds`` (a short poll on AWS samples only some servers and can miss messages).

SQS counts every receive in ``ApproximateReceiveCount``, so a peek increments it.

FIFO queues do not return further messages of a message group while earlier ones are in flight.
A scan of a FIFO queue therefore works in passes: when a pass ends with messages held, it lets them
go and receives again, which shows the next messages of those groups; it stops when a pass brings
nothing new. Messages that are never deleted (a peek) block their group, so a peek of a FIFO queue
sees the first messages (up to 10) of each message group. This is SQS's rule, not something a scan
can get around; it is made visible instead.

On any queue, messages someone else holds in flight (a worker, another command, a crashed one)
are hidden from the scan until their visibility timeout ends. So a scan that ran to its end having
seen fewer distinct messages than the queue held when it began (``ApproximateNumberOfMessages``
plus ``...NotVisible``) reports the difference as ``unreached`` (approximate, as those counts are),
on a standard queue as on a FIFO one; the commands say so and do not claim completeness.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType

import structlog

from bus.aws import AwsClients
from bus.aws.sqs import ALL, BATCH, QueueOps, chunks
from bus.dlq.letter import DlqMessage, from_sqs
from bus.dlq.queues import QueueRef, queue_depth

log = structlog.get_logger("bus.dlq")

DEFAULT_HOLD_SECONDS = 60
DEFAULT_WAIT_SECONDS = 1
_RELEASE_CONCURRENCY = 8


@dataclass
class BatchOutcome:
    """Per-entry result of a batch call: ids that succeeded and ``{id: reason}`` that did not."""

    ok: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class Scan:
    """One read of a queue. Use as ``async with Scan(aws, queue) as scan: async for batch in scan``."""

    def __init__(
        self,
        aws: AwsClients,
        queue: QueueRef,
        *,
        hold_seconds: int = DEFAULT_HOLD_SECONDS,
        wait_seconds: int = DEFAULT_WAIT_SECONDS,
    ) -> None:
        self.aws = aws
        self.queue = queue
        self.ops = QueueOps(aws.sqs, queue.url)
        self.hold_seconds = hold_seconds
        self.wait_seconds = wait_seconds
        self.received = 0
        """Receives, counting a message again each time it comes back."""
        self._expected: int | None = None
        self._depth = 0
        self._seen: set[str] = set()
        self._held: dict[str, str] = {}
        self._new_in_pass = 0
        self._exhausted = False
        self._stopped = False

    async def __aenter__(self) -> Scan:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.shield(self.release())

    def __aiter__(self) -> AsyncIterator[list[DlqMessage]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[list[DlqMessage]]:
        while (batch := await self.next_batch()) is not None:
            yield batch

    @property
    def seen(self) -> int:
        return len(self._seen)

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def unreached(self) -> int:
        """About how many messages the queue held when the scan began that it never received:
        in flight elsewhere (hidden), or (FIFO) of a group blocked by messages the scan held.
        0 while the scan has not run to its end, or when it was stopped at a limit."""
        if not self._exhausted or self._stopped:
            return 0
        return max(0, self._depth - self.seen)

    async def next_batch(self) -> list[DlqMessage] | None:
        """The next messages this scan has not seen yet (held until the scan ends); ``None`` when
        the queue has nothing more to show. Safe to call from several tasks on a standard queue."""
        if self._expected is None:
            visible, in_flight = await queue_depth(self.aws, self.queue)
            self._expected, self._depth = visible, visible + in_flight
        while not self._exhausted:
            letters = await self._receive(0)
            if not letters and self.seen < self._expected:
                # A short poll may miss messages (on AWS it samples servers): look properly.
                letters = await self._receive(self.wait_seconds)
            if letters:
                fresh = self._take(letters)
                if fresh:
                    return fresh
                continue
            if self.queue.fifo and self._new_in_pass and self._held:
                # Held messages block their groups: let them go and look again.
                self._new_in_pass = 0
                await self.release()
                continue
            self._exhausted = True
        return None

    def stop(self) -> None:
        """Make ``next_batch`` return ``None`` from now on (a limit was reached)."""
        self._exhausted = self._stopped = True

    def _take(self, letters: Sequence[DlqMessage]) -> list[DlqMessage]:
        fresh: list[DlqMessage] = []
        for letter in letters:
            self._held[letter.message_id] = letter.receipt_handle
            if letter.message_id not in self._seen:
                self._seen.add(letter.message_id)
                fresh.append(letter)
        self._new_in_pass += len(fresh)
        return fresh

    async def _receive(self, wait_seconds: int) -> list[DlqMessage]:
        """One ReceiveMessage. Cancelled while it is on its way, it still waits for the answer and
        holds what SQS handed out (so that leaving the scan releases those too), then re-raises."""
        call = asyncio.ensure_future(self._receive_call(wait_seconds))
        try:
            letters = await asyncio.shield(call)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                for letter in await call:
                    self._held[letter.message_id] = letter.receipt_handle
            raise
        return letters

    async def _receive_call(self, wait_seconds: int) -> list[DlqMessage]:
        messages = await self.ops.receive(
            BATCH, wait_seconds, visibility_timeout=self.hold_seconds, system_attributes=ALL
        )
        self.received += len(messages)
        return [from_sqs(m, services=self.queue.services) for m in messages]

    # -- acting on held messages -----------------------------------------------------------------

    async def delete(self, letters: Sequence[DlqMessage]) -> BatchOutcome:
        """Delete these messages (up to 10 per call); they are no longer held when it succeeded."""
        outcome = BatchOutcome()
        for chunk in chunks(list(letters)):
            receipts = [self._held.get(m.message_id, m.receipt_handle) for m in chunk]
            failed = await self.ops.delete_batch(receipts)
            for message, receipt in zip(chunk, receipts, strict=True):
                failure = failed.get(receipt)
                if failure is None:
                    self._held.pop(message.message_id, None)
                    outcome.ok.append(message.message_id)
                else:
                    outcome.failed[message.message_id] = str(failure)
        return outcome

    async def release(self) -> None:
        """Make every held message visible again now (ChangeMessageVisibilityBatch to 0)."""
        held = list(self._held.items())
        self._held.clear()
        if not held:
            return
        limit = asyncio.Semaphore(_RELEASE_CONCURRENCY)

        async def one(chunk: Sequence[tuple[str, str]]) -> None:
            async with limit:
                failed = await self.ops.change_visibility_batch([h for _, h in chunk], 0)
            for message_id, handle in chunk:
                if handle in failed:
                    # Typically an expired receipt handle: that message is visible already.
                    log.debug(
                        "release failed",
                        queue=self.queue.name,
                        message_id=message_id,
                        code=failed[handle].code,
                    )

        await asyncio.gather(*(one(c) for c in chunks(held)))
