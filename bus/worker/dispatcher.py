"""One message, start to finish: decode, validate, call the handler, then ack, retry or DLQ.

::

    decode ─ DecodeError ──────────────────────────────► DLQ  decode-error
    handler for the type? ─ unknown type / version ────► DLQ  unknown-event
                          └ declared, not on this queue ► DLQ  no-handler
    registry.parse (upcast) ─ EventValidationError ────► DLQ  validation-error
    idempotent and already handled ────────────────────► delete (skipped)
    handler ─ ok ──────────────────────────────────────► delete (batched)
            └ error ─ decide(): RetryNow ─► call again in-process (tenacity)
                                Redeliver ─► ChangeMessageVisibility(delay)
                                DeadLetter ─► DLQ rejected | handler-error

Nothing is deleted before it is handled or safely in the DLQ: the DLQ send comes first, the delete
of the source only after it succeeded; a failed send leaves the message on its queue.

FIFO queues redeliver in-process: a failed message waits out its backoff here, its group still in
flight (the heartbeat keeps it invisible, so SQS neither hands the group out again nor raises its
receive counts), and is tried again; the attempt is the receive count plus those redeliveries, and
on the queue's last one it is dead-lettered as above. Only a stop sends it back (``HELD``).

Every line logged about a delivery carries its fields (``fields``); while the handler runs they are
bound in structlog's context variables too, so that any logger the handler uses carries them.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import BaseModel
from structlog.contextvars import bind_contextvars, reset_contextvars
from tenacity import AsyncRetrying, RetryCallState, stop_never

from bus.control import Control
from bus.envelope import Envelope, decode
from bus.errors import (
    BusError,
    DecodeError,
    EventValidationError,
    HandlerError,
    UnknownEventError,
)
from bus.retry import (
    Attempt,
    DeadLetter,
    Decision,
    Redeliver,
    RetryNow,
    backoff,
    decide,
    redelivery_seconds,
)
from bus.schema import Registry
from bus.worker.acker import Acker
from bus.worker.context import Context
from bus.worker.deadletter import Reason, dead_letter_entry, error_text, error_type_name, failure_of
from bus.worker.fields import Fields, delivery_fields, envelope_fields, message_fields
from bus.worker.heartbeat import Heartbeat, extension
from bus.worker.idempotency import IdempotencyStore, idempotency_key
from bus.worker.loader import Handler, QueueBinding
from bus.worker.message import Received
from bus.worker.queues import QueueInfo
from bus.worker.sqs import BATCH, EntryFailure, QueueOps, call_failure
from bus.worker.stats import QueueStats

if TYPE_CHECKING:
    from bus.publish.publisher import Publisher

Log = structlog.typing.FilteringBoundLogger
Latest = Callable[[Received], Received]
"""The newest copy of a message being handled (a FIFO lane may have received it again)."""


def raised_at(error: BaseException) -> str | None:
    """``module:function:line`` of the innermost frame of ``error``'s traceback.

    Redelivery warnings carry this instead of the whole traceback (rendering thousands of those
    is costly); the dead-letter line carries the full traceback once, when the message dies.
    """
    tb = error.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    frame = tb.tb_frame
    return f"{frame.f_globals.get('__name__', '?')}:{frame.f_code.co_name}:{tb.tb_lineno}"


class Outcome(enum.Enum):
    HANDLED = "handled"
    """Handled (or skipped as a duplicate) and queued for deletion."""
    FAILED = "failed"
    """Redelivered later or dead-lettered."""
    HELD = "held"
    """FIFO, at a stop: failed and still in flight (its redelivery was to be in-process): the
    caller releases it together with the rest of its group, in order."""
    RELEASED = "released"
    """Not handled: made visible again at once (shutdown)."""


@dataclass(frozen=True)
class _Refusal:
    reason: Reason
    error: BusError


class Dispatcher:
    """Runs the messages of one queue through decode, validation, handler and outcome."""

    def __init__(
        self,
        *,
        info: QueueInfo,
        binding: QueueBinding,
        registry: Registry,
        publisher: Publisher | None,
        ops: QueueOps,
        dlq_ops: QueueOps | None,
        acker: Acker,
        heartbeat: Heartbeat,
        stats: QueueStats,
        store: IdempotencyStore,
        log: Log,
        stopping: asyncio.Event,
        latest: Latest | None = None,
    ) -> None:
        self._info = info
        self._binding = binding
        self._registry = registry
        self._publisher = publisher
        self._ops = ops
        self._dlq_ops = dlq_ops
        self._acker = acker
        self._heartbeat = heartbeat
        self._stats = stats
        self._store = store
        self._log = log
        self._stopping = stopping
        self._latest: Latest = latest or (lambda msg: msg)

    # -- the flow ---------------------------------------------------------------------------------

    async def process(self, msg: Received) -> Outcome:
        """Handle ``msg`` and settle its fate; returns only once it is deleted, delayed, in a DLQ or
        released. FIFO: tried again in-process until one of those (or a stop: ``HELD``)."""
        attempt = msg.receive_count
        while True:
            outcome = await self._deliver(msg, attempt)
            if outcome is not Outcome.HELD or self._stopping.is_set():
                return outcome
            attempt += 1

    async def _deliver(self, msg: Received, attempt: int) -> Outcome:
        """One attempt at ``msg``: decode, validate, handle, then its outcome."""
        if self._stopping.is_set():
            await self.release([msg])
            return Outcome.RELEASED
        try:
            env = decode(msg.body, msg.attributes, message_id=msg.message_id).envelope
        except DecodeError as exc:
            log = self._log.bind(**message_fields(msg, attempt))
            log.debug("undecodable body", body=msg.body[:2000])
            return await self._give_up(msg, attempt, "decode-error", exc, log)
        fields = envelope_fields(msg, env, attempt)
        log = self._log.bind(**fields)
        prepared = self._prepare(env)
        if isinstance(prepared, _Refusal):
            return await self._give_up(msg, attempt, prepared.reason, prepared.error, log, env)
        handler, event = prepared
        key = idempotency_key(self._info.name, env.id) if self._binding.idempotent else None
        if key is not None and await self._store.seen(key):
            self._stats.duplicates += 1
            log.info("already handled; skipped")
            self._delete(msg, log)
            return Outcome.HANDLED
        ctx = Context(
            message_id=msg.message_id,
            queue=self._info.name,
            attempt=attempt,
            envelope=env,
            log=log,
            publisher=self._publisher,
        )
        try:
            await self._handle(handler, event, ctx, fields, log)
        except asyncio.CancelledError:
            log.warning("handler cancelled at shutdown; releasing the message")
            await self.release([msg])
            raise
        except Exception as exc:
            return await self._failed(msg, exc, ctx, log, env)
        if key is not None:
            await self._store.record(key)
        self._stats.processed += 1
        self._delete(msg, log)
        log.debug("handled")
        return Outcome.HANDLED

    def _prepare(self, env: Envelope) -> tuple[Handler, BaseModel] | _Refusal:
        handler = self._binding.handlers.get(self._registry.event_name(env.type))
        try:
            if handler is None:
                self._registry.spec(env.type)  # UnknownEventError when the type is not declared
                return _Refusal(
                    "no-handler",
                    HandlerError(f"no handler for {env.type} on queue {self._info.name}"),
                )
            return handler, self._registry.parse(env.type, env.version, env.data)
        except UnknownEventError as exc:
            return _Refusal("unknown-event", exc)
        except EventValidationError as exc:
            return _Refusal("validation-error", exc)

    # -- calling the handler ----------------------------------------------------------------------

    async def _handle(
        self, handler: Handler, event: BaseModel, ctx: Context, fields: Fields, log: Log
    ) -> None:
        """``_run`` with the delivery's fields bound in structlog's context variables, for every
        logger the handler uses (reset with their tokens: much cheaper than copying the whole
        context, as ``bound_contextvars`` does)."""
        tokens = bind_contextvars(queue=self._info.name, **fields)
        try:
            if self._info.fifo:
                # A FIFO lane runs its group's messages in one task: what a handler binds in the
                # context variables must not stay for the next message, so it runs in a copy.
                await asyncio.create_task(
                    self._run(handler, event, ctx, log), context=contextvars.copy_context()
                )
            else:  # each message has its own task (and its context) already
                await self._run(handler, event, ctx, log)
        finally:
            reset_contextvars(**tokens)

    @staticmethod
    async def _invoke(handler: Handler, event: BaseModel, ctx: Context) -> None:
        if handler.takes_context:
            await handler.func(event, ctx)
        else:
            await handler.func(event)

    def _decide(self, attempt: int, try_number: int, error: BaseException) -> Decision:
        return decide(
            self._binding.policy,
            Attempt(attempt, try_number),
            self._info.max_receive_count,
            error,
        )

    async def _run(self, handler: Handler, event: BaseModel, ctx: Context, log: Log) -> None:
        """Call the handler; on a transient error, try again in-process as ``decide`` says."""
        try:
            await self._invoke(handler, event, ctx)
            return
        except Exception as exc:
            first = self._decide(ctx.attempt, 1, exc)
            if not isinstance(first, RetryNow):
                raise
            self._note_retry(log, exc, first.delay, 1)
            await asyncio.sleep(first.delay)
        decisions: list[Decision] = [first]

        def again(state: RetryCallState) -> bool:
            outcome = state.outcome
            error = outcome.exception() if outcome is not None and outcome.failed else None
            if error is None:
                return False
            decisions[0] = self._decide(ctx.attempt, ctx.try_number, error)
            retry_now = isinstance(decisions[0], RetryNow)
            if retry_now:
                self._note_retry(log, error, self._delay(decisions[0]), ctx.try_number)
            return retry_now

        retrying = AsyncRetrying(
            stop=stop_never,
            retry=again,
            wait=lambda _: self._delay(decisions[0]),
            reraise=True,
            sleep=asyncio.sleep,
        )
        async for attempt in retrying:
            with attempt:
                ctx.try_number = attempt.retry_state.attempt_number + 1
                await self._invoke(handler, event, ctx)

    @staticmethod
    def _delay(decision: Decision) -> float:
        return decision.delay if isinstance(decision, RetryNow | Redeliver) else 0.0

    def _note_retry(self, log: Log, error: BaseException, delay: float, try_number: int) -> None:
        self._stats.retried += 1
        log.warning(
            "transient error; trying again",
            try_number=try_number,
            delay=round(delay, 3),
            error_type=error_type_name(error),
            error=error_text(error),
        )

    # -- outcomes ---------------------------------------------------------------------------------

    async def _failed(
        self, msg: Received, exc: Exception, ctx: Context, log: Log, env: Envelope
    ) -> Outcome:
        tries = max(ctx.try_number, self._binding.policy.attempts)
        decision = self._decide(ctx.attempt, tries, exc)
        if isinstance(decision, DeadLetter):
            return await self._give_up(msg, ctx.attempt, decision.reason, exc, log, env)
        delay = redelivery_seconds(self._delay(decision))
        log.warning(
            "handler failed; redelivering later",
            delay=delay,
            error_type=error_type_name(exc),
            error=error_text(exc),
            where=raised_at(exc),
        )
        self._stats.retried += 1
        self._stats.redelivered += 1
        return await self._later(msg, delay, log)

    async def _later(self, msg: Received, delay: int, log: Log) -> Outcome:
        """Let ``msg`` come back after ``delay`` seconds (FIFO: in-process, its group held)."""
        if self._info.fifo:
            await self._hold(delay)
            return Outcome.HELD
        await self._set_visibility(msg, delay, log)
        return Outcome.FAILED

    async def _hold(self, delay: float) -> None:
        """FIFO redelivery delay, waited in-process (the heartbeat keeps the message invisible).

        Giving the group back instead would raise the receive counts of the messages behind the
        failed one, which did not fail (they could reach ``max_receive_count`` and be moved by
        SQS's own redrive, without ``bus.failure``). A stop cuts the wait short.
        """
        if self._stopping.is_set():
            return
        if delay <= 0:
            await asyncio.sleep(0)  # no backoff: tried again at once, but never without a pause
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    async def _give_up(
        self,
        msg: Received,
        attempt: int,
        reason: Reason,
        error: BaseException,
        log: Log,
        env: Envelope | None = None,
    ) -> Outcome:
        """To the DLQ: send first, delete after; without a DLQ (or if the send fails), keep it."""
        fallback = redelivery_seconds(backoff(self._binding.policy.redelivery, attempt))
        if self._dlq_ops is None:
            log.error(
                "giving up, but the queue has no DLQ: the message stays on its queue",
                reason=reason,
                error_type=error_type_name(error),
                error=error_text(error),
            )
            return await self._later(msg, max(1, fallback), log)
        now = datetime.now(UTC)
        failure = failure_of(msg, reason, error, self._info.physical, now, attempt=attempt)
        entry = dead_letter_entry(
            msg,
            failure,
            fifo=self._info.fifo,
            event_type=env.type if env else None,
            event_version=env.version if env else None,
        )
        if not await self._send_dead_letter(entry, reason, fallback, log):
            if self._info.fifo:
                return Outcome.HELD  # stopping: given back with its group, in order
            await self._set_visibility(msg, fallback, log)
            return Outcome.FAILED
        self._stats.dead_lettered += 1
        self._delete(msg, log)
        log.error(
            "dead-lettered",
            reason=reason,
            error_type=failure.error_type,
            error=failure.error,
            dlq=self._info.dlq_name,
            exc_info=error
            if reason == "handler-error" and not isinstance(error, Control)
            else None,
        )
        return Outcome.FAILED

    async def _send_dead_letter(
        self, entry: dict[str, Any], reason: Reason, fallback: int, log: Log
    ) -> bool:
        """Send the DLQ copy; ``False`` if it could not be sent. FIFO: the send alone is tried
        again (after ``fallback`` seconds, at least one) until it succeeds or the worker stops:
        running the handler again, or giving the group back, would not make it any likelier."""
        ops = self._dlq_ops
        while ops is not None:
            try:
                await ops.send(entry)
                return True
            except Exception as exc:
                log.error(
                    "could not send to the DLQ: the message stays on its queue",
                    reason=reason,
                    code=call_failure(exc),
                    error=str(exc),
                )
            if not self._info.fifo:
                return False
            await self._hold(max(1, fallback))
            if self._stopping.is_set():
                return False
        return False

    def _delete(self, msg: Received, log: Log) -> None:
        """Queue the delete; the heartbeat keeps the message until the acker settles it."""
        self._acker.delete(self._latest(msg).receipt_handle, log)

    async def _set_visibility(self, msg: Received, seconds: int, log: Log) -> None:
        """Make ``msg`` visible again in ``seconds``, or when SQS's 12 hours from its receive are
        up if that comes first (asking for more would be refused)."""
        msg = self._latest(msg)
        await self._heartbeat.settle(msg.receipt_handle)
        seconds = extension(seconds, time.monotonic() - msg.limit_from)
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
        messages = [self._latest(m) for m in messages]
        for msg in messages:
            await self._heartbeat.settle(msg.receipt_handle)
        self._stats.released += len(messages)
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
                    self._log.warning(
                        "could not release the message; it comes back after its timeout",
                        code=failed[msg.receipt_handle].code,
                        **delivery_fields(msg),
                    )
            kept.update(failed)
        return kept
