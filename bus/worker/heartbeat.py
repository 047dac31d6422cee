"""Visibility heartbeat: keep messages invisible while the worker still holds them.

Every message is tracked from the moment it is received (a FIFO message may wait behind its group)
until it is settled: its delete confirmed (or given up on: the acker says so), its visibility set
for a redelivery, or released. Once a message has been held for ``fraction`` of the visibility timeout since
its receipt or its last extension, its visibility is extended by one whole timeout, ten messages per
ChangeMessageVisibilityBatch. ``settle()`` stops tracking a message and waits for an extension
already in flight, so that a visibility the worker sets afterwards (a redelivery delay, a release)
is never overwritten by a late heartbeat.

SQS refuses to keep a message invisible for more than 12 hours from its receive: an extension is
never asked for more than remains of that (``extension``), counted from when the receive was asked
for (no later than SQS's own receive) and with ``SLACK`` seconds to spare for the call's way there.
The last extension reaches the limit; then the message is no longer tracked and becomes visible
again when the limit is up, for a new delivery. A FIFO message waiting out its backoff in-process
is given back with its group before that (``holdable``; ``bus.worker.settle``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from bus.clock import monotonic
from bus.worker.sqs import QueueOps, call_failure, chunks

FRACTION = 1 / 3
MIN_TICK = 0.1
MAX_VISIBILITY = 43_200
"""SQS's limit on a message's visibility, in seconds from its receive (12 hours)."""
SLACK = 30
"""Seconds of the 12 hours left unasked for: the time a ChangeMessageVisibility call may take to
reach SQS after the worker read its clock."""


GIVE_BACK = 30
"""Seconds kept, before the heartbeat's last extension runs out, for giving a held message back
(``holdable``): the ChangeMessageVisibility calls of a release."""


def holdable(held_for: float) -> float:
    """Seconds a message received ``held_for`` seconds ago can still be held invisible and then
    given back before SQS would make it visible itself: its 12 hours from the receive, less
    ``SLACK`` (where the heartbeat's last extension ends) and ``GIVE_BACK``; 0 when none remain."""
    return max(0.0, MAX_VISIBILITY - SLACK - GIVE_BACK - held_for)


def extension(timeout: int, held_for: float) -> int:
    """Seconds to extend the visibility of a message received ``held_for`` seconds ago.

    A whole ``timeout``, but never past SQS's 12 hours from the receive (less ``SLACK``); 0 when
    nothing remains.
    """
    remaining = math.floor(MAX_VISIBILITY - SLACK - held_for)
    return max(0, min(timeout, remaining))


@dataclass
class _Held:
    since: float
    """Received or last extended (monotonic)."""
    limit_from: float
    """Where SQS's 12 hours start (monotonic, conservatively early)."""


class Heartbeat:
    """Extends the visibility of the messages of one queue that the worker still holds."""

    def __init__(
        self,
        ops: QueueOps,
        visibility_timeout: int,
        log: structlog.typing.FilteringBoundLogger,
        *,
        fraction: float = FRACTION,
    ) -> None:
        self._ops = ops
        self._timeout = visibility_timeout
        self._log = log
        self.extend_after = visibility_timeout * fraction
        self.tick = max(MIN_TICK, self.extend_after / 3)
        self._held: dict[str, _Held] = {}
        self._lock = asyncio.Lock()
        self.extensions = 0

    @property
    def enabled(self) -> bool:
        return self._timeout > 0

    def track(self, receipt: str, since: float, limit_from: float | None = None) -> None:
        """Keep ``receipt`` invisible from ``since`` on; SQS's 12 hours count from ``limit_from``
        (default: ``since``)."""
        if self.enabled:
            self._held[receipt] = _Held(since, since if limit_from is None else limit_from)

    def untrack(self, receipt: str) -> None:
        """Stop extending a message that is deleted (or whose delete was given up on)."""
        self._held.pop(receipt, None)

    async def settle(self, receipt: str) -> None:
        """Stop extending ``receipt`` and wait out any extension in flight."""
        self._held.pop(receipt, None)
        if self._lock.locked():
            async with self._lock:
                pass

    @property
    def tracked(self) -> int:
        return len(self._held)

    def holds(self, receipt: str) -> bool:
        return receipt in self._held

    async def run(self) -> None:
        """Extend what is due, forever (cancel to stop); no error ends it."""
        if not self.enabled:
            return
        while True:
            await asyncio.sleep(self.tick)
            try:
                await self.beat(monotonic())
            except Exception:
                self._log.exception("visibility heartbeat failed; carrying on")

    async def beat(self, now: float) -> None:
        due = [r for r, held in self._held.items() if now - held.since >= self.extend_after]
        if not due:
            return
        async with self._lock:
            by_seconds: dict[int, list[str]] = {}
            for receipt in due:
                held = self._held.get(receipt)
                if held is not None:
                    seconds = extension(self._timeout, now - held.limit_from)
                    by_seconds.setdefault(seconds, []).append(receipt)
            self._at_limit(by_seconds.pop(0, []))
            for seconds, receipts in by_seconds.items():
                for batch in chunks(receipts):
                    await self._extend(batch, seconds, now)

    def _at_limit(self, receipts: Sequence[str]) -> None:
        """Stop tracking messages whose visibility already reaches SQS's 12-hour limit."""
        for receipt in receipts:
            del self._held[receipt]
        if receipts:
            self._log.warning(
                "visibility at SQS's 12-hour limit: no more extensions, the messages become "
                "visible again then",
                count=len(receipts),
            )

    async def _extend(self, batch: Sequence[str], seconds: int, now: float) -> None:
        try:
            failed = await self._ops.change_visibility_batch(batch, seconds)
        except Exception as exc:  # an outage, expired credentials (SettingsError), anything
            self._log.warning(
                "visibility heartbeat failed",
                code=call_failure(exc),
                error=str(exc),
                count=len(batch),
            )
            return
        for receipt in batch:
            held = self._held.get(receipt)
            if receipt not in failed and held is not None:
                held.since = now
                if seconds < self._timeout:  # this extension reached the 12-hour limit
                    self._at_limit([receipt])
        self.extensions += len(batch) - len(failed)
        for failure in {f.code for f in failed.values()}:
            self._log.debug("visibility heartbeat refused", code=failure)
