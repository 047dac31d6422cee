"""Batched deletes: finished messages are deleted ten at a time with DeleteMessageBatch.

A delete is queued the moment a message is finished and sent when ten are waiting or after a short
linger. Entries that fail for the service's reasons (or whole calls that fail: throttling, an
outage, any other error) are sent again with backoff; entries refused for the sender's reasons (the
receipt handle expired: the message became visible again and will be delivered again) are logged,
never retried. Every queued delete is *settled* exactly once: deleted, refused, or given up on
after ``attempts`` tries (``undeleted``: those messages will be delivered again, never lost); the
``settled`` callback hears of each, so that the heartbeat keeps a message invisible until then.
Lines about one message are logged with that delivery's logger (its message id, event type,
attempt, correlation id). ``drain()`` waits until every queued delete has been settled: the worker
calls it on shutdown.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import structlog

from bus.aws.backoff import RetryConfig, backoff
from bus.worker.sqs import BATCH, EntryFailure, QueueOps, call_failure

LINGER = 0.02
ATTEMPTS = 8
MAX_PAUSE = 5.0
DELETE_RETRY = RetryConfig(initial=0.1, maximum=MAX_PAUSE, jitter=False)

Log = structlog.typing.FilteringBoundLogger
Settled = Callable[[str, bool], None]
"""``settled(receipt, deleted)``: the delete of ``receipt`` succeeded (True) or was given up on."""


class _Entry(NamedTuple):
    receipt: str
    log: Log


class Acker:
    """Deletes finished messages of one queue in batches, keeping track of every one."""

    def __init__(
        self,
        ops: QueueOps,
        log: Log,
        *,
        linger: float = LINGER,
        attempts: int = ATTEMPTS,
        settled: Settled | None = None,
    ) -> None:
        self._ops = ops
        self._log = log
        self._linger = linger
        self._attempts = attempts
        self._settled = settled
        self._pending: list[_Entry] = []
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self.deleted = 0
        self.undeleted = 0
        """Deletes refused or given up on: those messages will be delivered again (never lost)."""

    def delete(self, receipt: str, log: Log | None = None) -> None:
        """Queue the delete of a finished message (``log``: its delivery's logger)."""
        self._pending.append(_Entry(receipt, log or self._log))
        if len(self._pending) >= BATCH:
            self._flush()
        elif self._timer is None:
            # in a context of its own: not that of the message whose delete started the batch
            self._timer = asyncio.get_running_loop().call_later(
                self._linger, self._flush, context=contextvars.Context()
            )

    @property
    def outstanding(self) -> int:
        return len(self._pending) + len(self._sending)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            task = asyncio.create_task(self._send(batch), context=contextvars.Context())
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def drain(self) -> None:
        """Send everything queued and wait for every answer (retries included)."""
        self._flush()
        while self._sending:
            await asyncio.gather(*list(self._sending), return_exceptions=True)

    async def _send(self, batch: Sequence[_Entry]) -> None:
        attempt = 1
        while batch:
            failed = await self._try(batch)
            retry: list[_Entry] = []
            for entry in batch:
                failure = failed.get(entry.receipt)
                if failure is None:
                    self.deleted += 1
                    self._settle(entry, deleted=True)
                elif failure.sender_fault:
                    self._refused(entry, failure)
                else:
                    retry.append(entry)
            if retry and attempt >= self._attempts:
                for entry in retry:
                    self._give_up(entry, failed[entry.receipt])
                return
            if retry:
                await asyncio.sleep(backoff(DELETE_RETRY, attempt))
            batch, attempt = retry, attempt + 1

    async def _try(self, batch: Sequence[_Entry]) -> Mapping[str, EntryFailure]:
        """One DeleteMessageBatch; a call that fails, for whatever reason, fails every entry."""
        receipts = [e.receipt for e in batch]
        try:
            return await self._ops.delete_batch(receipts)
        except Exception as exc:
            self._log.warning(
                "delete batch failed; retrying",
                code=call_failure(exc),
                error=str(exc),
                count=len(batch),
            )
            return {r: EntryFailure(call_failure(exc), sender_fault=False) for r in receipts}

    def _settle(self, entry: _Entry, *, deleted: bool) -> None:
        if self._settled is None:
            return
        try:
            self._settled(entry.receipt, deleted)
        except Exception:  # a bug in the callback must not stop the other deletes
            entry.log.exception("delete bookkeeping failed")

    def _refused(self, entry: _Entry, failure: EntryFailure) -> None:
        self.undeleted += 1
        entry.log.warning(
            "delete refused; the message will be delivered again",
            code=failure.code,
            receipt_handle=entry.receipt[:16],
        )
        self._settle(entry, deleted=False)

    def _give_up(self, entry: _Entry, failure: EntryFailure) -> None:
        self.undeleted += 1
        entry.log.error(
            "delete failed; the message will be delivered again",
            code=failure.code,
            tries=self._attempts,
        )
        self._settle(entry, deleted=False)
