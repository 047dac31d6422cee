"""Batched deletes: finished messages are deleted ten at a time with DeleteMessageBatch.

A delete is queued the moment a message is finished and sent when ten are waiting or after a short
linger. Entries that fail for the service's reasons (or whole calls that fail: throttling, an
outage) are sent again with backoff; entries refused for the sender's reasons (the receipt handle
expired: the message became visible again and will be delivered again) are logged, never retried.
``drain()`` waits until every queued delete has been answered: the worker calls it on shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from bus.errors import AwsError
from bus.worker.sqs import BATCH, EntryFailure, QueueOps

LINGER = 0.02
ATTEMPTS = 8
MAX_PAUSE = 5.0


class Acker:
    """Deletes finished messages of one queue in batches, keeping track of every one."""

    def __init__(
        self,
        ops: QueueOps,
        log: structlog.typing.FilteringBoundLogger,
        *,
        linger: float = LINGER,
        attempts: int = ATTEMPTS,
    ) -> None:
        self._ops = ops
        self._log = log
        self._linger = linger
        self._attempts = attempts
        self._pending: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self.deleted = 0
        self.undeleted = 0
        """Deletes given up on: those messages will be delivered again (never lost)."""

    def delete(self, receipt: str) -> None:
        """Queue the delete of a finished message."""
        self._pending.append(receipt)
        if len(self._pending) >= BATCH:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._linger, self._flush)

    @property
    def outstanding(self) -> int:
        return len(self._pending) + len(self._sending)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            task = asyncio.create_task(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def drain(self) -> None:
        """Send everything queued and wait for every answer (retries included)."""
        self._flush()
        while self._sending:
            await asyncio.gather(*list(self._sending), return_exceptions=True)

    async def _send(self, batch: Sequence[str]) -> None:
        attempt = 1
        while batch:
            failed = await self._try(batch)
            self.deleted += len(batch) - len(failed)
            retry = [r for r, f in failed.items() if not f.sender_fault]
            for receipt, failure in failed.items():
                if failure.sender_fault:
                    self._refused(receipt, failure)
            if retry and attempt >= self._attempts:
                self.undeleted += len(retry)
                self._log.error(
                    "delete failed; the messages will be delivered again",
                    count=len(retry),
                    code=next(iter(failed.values())).code,
                )
                return
            if retry:
                await asyncio.sleep(min(MAX_PAUSE, 0.1 * 2 ** (attempt - 1)))
            batch, attempt = retry, attempt + 1

    async def _try(self, batch: Sequence[str]) -> dict[str, EntryFailure]:
        try:
            return await self._ops.delete_batch(batch)
        except AwsError as exc:
            self._log.warning("delete batch failed; retrying", code=exc.code, error=str(exc))
            return {r: EntryFailure(exc.code, sender_fault=False) for r in batch}

    def _refused(self, receipt: str, failure: EntryFailure) -> None:
        self.undeleted += 1
        self._log.warning(
            "delete refused; the message will be delivered again",
            code=failure.code,
            receipt_handle=receipt[:16],
        )
