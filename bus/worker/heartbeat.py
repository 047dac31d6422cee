"""Visibility heartbeat: keep messages invisible while the worker still holds them.

Every message is tracked from the moment it is received (a FIFO message may wait behind its group)
until it is finished. Once a message has been held for ``fraction`` of the visibility timeout since
its receipt or its last extension, its visibility is extended by one whole timeout, ten messages per
ChangeMessageVisibilityBatch. ``settle()`` stops tracking a message and waits for an extension
already in flight, so that a visibility the worker sets afterwards (a redelivery delay, a release)
is never overwritten by a late heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

import structlog

from bus.errors import AwsError
from bus.worker.sqs import QueueOps, chunks

FRACTION = 1 / 3
MIN_TICK = 0.1


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
        self._held: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self.extensions = 0

    @property
    def enabled(self) -> bool:
        return self._timeout > 0

    def track(self, receipt: str, since: float) -> None:
        if self.enabled:
            self._held[receipt] = since

    def untrack(self, receipt: str) -> None:
        """Stop extending a message that is being deleted (a late extension is harmless)."""
        self._held.pop(receipt, None)

    async def settle(self, receipt: str) -> None:
        """Stop extending ``receipt`` and wait out any extension in flight."""
        self._held.pop(receipt, None)
        if self._lock.locked():
            async with self._lock:
                pass

    async def run(self) -> None:
        """Extend what is due, forever (cancel to stop)."""
        if not self.enabled:
            return
        while True:
            await asyncio.sleep(self.tick)
            with contextlib.suppress(AwsError):
                await self.beat(time.monotonic())

    async def beat(self, now: float) -> None:
        due = [r for r, since in self._held.items() if now - since >= self.extend_after]
        if not due:
            return
        async with self._lock:
            due = [r for r in due if r in self._held]
            for batch in chunks(due):
                await self._extend(batch, now)

    async def _extend(self, batch: Sequence[str], now: float) -> None:
        try:
            failed = await self._ops.change_visibility_batch(batch, self._timeout)
        except AwsError as exc:
            self._log.warning("visibility heartbeat failed", code=exc.code, count=len(batch))
            return
        for receipt in batch:
            if receipt not in failed and receipt in self._held:
                self._held[receipt] = now
        self.extensions += len(batch) - len(failed)
        for failure in {f.code for f in failed.values()}:
            self._log.debug("visibility heartbeat refused", code=failure)
