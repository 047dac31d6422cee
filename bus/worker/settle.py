"""Settling an outcome: delete, redeliver later, dead-letter or release one message.

The pipeline decides what became of a delivery (``bus.middleware.Outcome``); the ``Settler`` alone
talks to SQS about it. Nothing is deleted before it is handled or safely in the DLQ: the DLQ send
comes first, the delete of the source only after it succeeded; a failed send leaves the message on
its queue.

FIFO queues redeliver in-process: a failed message waits out its backoff here, its group still in
flight (the heartbeat keeps it invisible, so SQS neither hands the group out again nor raises its
receive counts), and is tried again (``HELD``); only a stop sends it back. While it waits (and
between the tries of a DLQ send that failed) it gives back what it holds only to be tried, its
slot of the process-wide limit (``Pauses``, the consumer). A wait that would outlast SQS's 12
hours from the message's receive is cut short and the group given back instead (``RETURNED``,
``Settler._hold``). The Lambda entry point settles with ``hold_fifo=False``: a FIFO message is
then redelivered like a standard one.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import math
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

from bus.clock import monotonic
from bus.control import Control
from bus.middleware.consume import Incoming, Outcome
from bus.retry import backoff, redelivery_seconds
from bus.worker.acker import Acker
from bus.worker.deadletter import (
    REASONS,
    Reason,
    dead_letter_entry,
    error_text,
    error_type_name,
    failure_of,
)
from bus.worker.fields import delivery_fields
from bus.worker.heartbeat import Heartbeat, extension, holdable
from bus.worker.message import Received
from bus.worker.scope import Log, QueueScope
from bus.worker.sqs import BATCH, EntryFailure, QueueOps, call_failure


class Fate(enum.Enum):
    """Where a message stands once its delivery is settled."""

    HANDLED = "handled"
    """Handled (or skipped as a duplicate) and queued for deletion."""
    FAILED = "failed"
    """Redelivered later or dead-lettered."""
    HELD = "held"
    """FIFO: to be tried again in-process (its redelivery), or, at a stop, still in flight: the
    caller releases it together with the rest of its group, in order."""
    RELEASED = "released"
    """Not handled: made visible again at once (shutdown)."""
    RETURNED = "returned"
    """FIFO: its wait for another try would have outlasted SQS's 12 hours from its receive, so it
    is still in flight: the caller gives it back at once together with the rest of its group, in
    order, as at a stop; SQS redelivers it first, with a fresh 12 hours."""


class Renewals(Protocol):
    def latest(self, msg: Received) -> Received:
        """The newest copy of ``msg`` (a FIFO lane may have received it again while it ran)."""
        ...


class _Same:
    def latest(self, msg: Received) -> Received:
        return msg


class Pauses(Protocol):
    def pause(self, msg: Received) -> AbstractAsyncContextManager[None]:
        """Around a wait between ``msg``'s tries: what it holds only while it is tried is given
        back for the wait and taken again after it (not once the worker stops)."""
        ...


class _Keep:
    def pause(self, msg: Received) -> AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()


def raised_at(error: BaseException) -> str | None:
    """``module:function:line`` of the innermost frame of ``error``'s traceback (redelivery
    warnings carry this instead of the whole traceback; the dead-letter line carries it all)."""
    tb = error.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    frame = tb.tb_frame
    return f"{frame.f_globals.get('__name__', '?')}:{frame.f_code.co_name}:{tb.tb_lineno}"


class Settler:
    """Carries out the outcomes of one queue's deliveries against SQS."""

    def __init__(
        self,
        scope: QueueScope,
        ops: QueueOps,
        dlq_ops: QueueOps | None,
        acker: Acker,
        heartbeat: Heartbeat,
        renewals: Renewals | None = None,
        *,
        pauses: Pauses | None = None,
        hold_fifo: bool = True,
    ) -> None:
        self._scope = scope
        self._ops = ops
        self._dlq_ops = dlq_ops
        self._acker = acker
        self._heartbeat = heartbeat
        self.renewals: Renewals = renewals if renewals is not None else _Same()
        self.pauses: Pauses = pauses if pauses is not None else _Keep()
        self.hold_fifo = hold_fifo
        """FIFO: redeliver in-process (the worker); False: set the visibility, as for a standard
        queue, and let the caller hold the rest of the group back (the Lambda entry point)."""

    async def settle(self, delivery: Incoming, outcome: Outcome) -> Fate:
        msg, log, stats = delivery.message, delivery.log, self._scope.stats
        if outcome.deletes:
            if outcome.kind == "duplicate":
                stats.duplicates += 1
                log.info("already handled; skipped")
            else:
                stats.processed += 1
                log.debug("handled")
            self.delete(msg, log)
            return Fate.HANDLED
        if outcome.kind == "dead-letter":
            return await self.dead_letter(delivery, outcome)
        delay = redelivery_seconds(outcome.delay)
        error = outcome.error
        if outcome.reason == "in-progress":
            log.info("being handled by another copy; redelivering later", delay=delay)
        else:
            log.warning(
                "handler failed; redelivering later",
                delay=delay,
                reason=outcome.reason,
                error_type=error_type_name(error) if error else None,
                error=error_text(error) if error else None,
                where=raised_at(error) if error else None,
            )
            stats.retried += 1
        stats.redelivered += 1
        return await self.later(msg, delay, log)

    async def later(self, msg: Received, delay: int, log: Log) -> Fate:
        """Let ``msg`` come back after ``delay`` seconds (FIFO: in-process, its group held)."""
        if self._scope.info.fifo and self.hold_fifo:
            return await self._hold(msg, delay, log)
        await self._set_visibility(msg, delay, log)
        return Fate.FAILED

    async def _hold(self, msg: Received, delay: float, log: Log) -> Fate:
        """FIFO redelivery delay, waited in-process (the heartbeat keeps the message invisible):
        ``HELD``, to be tried again (or, once the worker stops, given back with its group).

        Giving the group back instead would raise the receive counts of the messages behind the
        failed one, which did not fail (they could reach ``max_receive_count`` and be moved by
        SQS's own redrive, without ``bus.failure``). A stop cuts the wait short. The wait is a
        pause (``Pauses``): the message's process slot is free meanwhile.

        SQS keeps a message invisible for 12 hours from its receive at most: a wait that would end
        later (a long ``Retry(delay=...)``, or long backoffs one after the other) lasts only until
        shortly before then (``heartbeat.holdable``) and ends ``RETURNED``: the group is given
        back, in order, rather than left to become visible while this worker still holds it (SQS
        would hand its head to another consumer, and what waits behind it could be handled out of
        order). SQS then redelivers the head first, with a fresh 12 hours. The trade-offs: the
        message is tried again sooner than its backoff asked, by what the window could not hold;
        its attempt is then SQS's receive count (one more than at its last receive), which does
        not count the tries made in-process in that window, so a message whose backoffs cross
        the 12 hours more than once can be tried more than ``max_receive_count`` times in all;
        the messages behind it get one more receive count each. Rare: only a wait that crosses
        the 12 hours.
        """
        stopping = self._scope.stopping
        if stopping.is_set():
            return Fate.HELD
        if delay <= 0:
            await asyncio.sleep(0)  # no backoff: tried again at once, but never without a pause
            return Fate.HELD
        left = holdable(monotonic() - self.renewals.latest(msg).limit_from)
        returning = delay > left
        if returning:
            log.warning(
                "wait past SQS's 12-hour visibility limit; the group goes back to the queue "
                "before it",
                reason="visibility-limit",
                message_id=msg.message_id,
                group=msg.group_id,
                delay=delay,
                left=math.floor(left),
            )
        wait = min(delay, left)
        if wait > 0:
            async with self.pauses.pause(msg):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), wait)
        return Fate.RETURNED if returning and not stopping.is_set() else Fate.HELD

    async def dead_letter(self, delivery: Incoming, outcome: Outcome) -> Fate:
        """To the DLQ: send first, delete after; without a DLQ (or if the send fails), keep it."""
        msg, log, env, info = delivery.message, delivery.log, delivery.envelope, self._scope.info
        reason: Reason = "handler-error"
        for known in REASONS:
            if outcome.reason == known:
                reason = known
        error: BaseException = outcome.error or RuntimeError(reason)
        policy = self._scope.binding.policy
        fallback = redelivery_seconds(backoff(policy.redelivery, delivery.attempt))
        if self._dlq_ops is None:
            log.error(
                "giving up, but the queue has no DLQ: the message stays on its queue",
                reason=reason,
                error_type=error_type_name(error),
                error=error_text(error),
            )
            return await self.later(msg, max(1, fallback), log)
        now = datetime.now(UTC)
        created = env.time if env else None
        failure = failure_of(msg, reason, error, info.physical, now, delivery.attempt, created)
        entry = dead_letter_entry(
            msg,
            failure,
            fifo=info.fifo,
            event_type=env.type if env else None,
            event_version=env.version if env else None,
            max_bytes=info.dlq_max_bytes,
        )
        kept = await self._send_dead_letter(msg, entry, reason, fallback, log)
        if kept is Fate.FAILED:
            await self._set_visibility(msg, fallback, log)
            return Fate.FAILED
        if kept is not None:
            return kept  # FIFO: given back with its group, in order (a stop, or the 12 hours)
        self._scope.stats.dead_lettered += 1
        self.delete(msg, log)
        log.error(
            "dead-lettered",
            reason=reason,
            error_type=failure.error_type,
            error=failure.error,
            dlq=info.dlq_name,
            exc_info=error
            if reason in ("handler-error", "timeout") and not isinstance(error, Control)
            else None,
        )
        return Fate.FAILED

    async def _send_dead_letter(
        self, msg: Received, entry: dict[str, Any], reason: Reason, fallback: int, log: Log
    ) -> Fate | None:
        """Send the DLQ copy: None once sent, else what becomes of the message kept on its queue
        (``FAILED``: its visibility is the caller's to set). FIFO: the send alone is tried again
        (after ``fallback`` seconds, at least one) until it succeeds, the worker stops (``HELD``),
        or the wait would outlast SQS's 12 hours from the receive (``RETURNED``, see ``_hold``;
        the handler then runs again on the next receive): running the handler again, or giving
        the group back, would not make the send any likelier."""
        ops = self._dlq_ops
        while ops is not None:
            try:
                await ops.send(entry)
                return None
            except Exception as exc:
                log.error(
                    "could not send to the DLQ: the message stays on its queue",
                    reason=reason,
                    code=call_failure(exc),
                    error=str(exc),
                )
            if not (self._scope.info.fifo and self.hold_fifo):
                return Fate.FAILED
            held = await self._hold(msg, max(1, fallback), log)
            if held is Fate.RETURNED or self._scope.stopping.is_set():
                return held
        return Fate.FAILED

    def delete(self, msg: Received, log: Log) -> None:
        """Queue the delete; the heartbeat keeps the message until the acker settles it."""
        self._acker.delete(self.renewals.latest(msg).receipt_handle, log)

    async def _set_visibility(self, msg: Received, seconds: int, log: Log) -> None:
        """Make ``msg`` visible again in ``seconds``, or when SQS's 12 hours from its receive are
        up if that comes first (asking for more would be refused)."""
        msg = self.renewals.latest(msg)
        await self._heartbeat.settle(msg.receipt_handle)
        seconds = extension(seconds, monotonic() - msg.limit_from)
        try:
            await self._ops.change_visibility(msg.receipt_handle, seconds)
        except Exception as exc:
            log.warning(
                "could not change the visibility; the message comes back after its timeout",
                code=call_failure(exc),
            )

    async def release(self, messages: Sequence[Received]) -> set[str]:
        """Make unhandled messages visible again at once (shutdown), in the order given; return
        the receipt handles that could not be released (they come back after their visibility
        timeout instead)."""
        if not messages:
            return set()
        messages = [self.renewals.latest(m) for m in messages]
        for msg in messages:
            await self._heartbeat.settle(msg.receipt_handle)
        self._scope.stats.released += len(messages)
        kept: set[str] = set()
        for start in range(0, len(messages), BATCH):
            batch = messages[start : start + BATCH]
            receipts = [m.receipt_handle for m in batch]
            try:
                failed = await self._ops.change_visibility_batch(receipts, 0)
            except Exception as exc:
                failed = {r: EntryFailure(call_failure(exc), sender_fault=False) for r in receipts}
            for msg in batch:
                if msg.receipt_handle in failed:
                    self._scope.log.warning(
                        "could not release the message; it comes back after its timeout",
                        code=failed[msg.receipt_handle].code,
                        **delivery_fields(msg),
                    )
            kept.update(failed)
        return kept
