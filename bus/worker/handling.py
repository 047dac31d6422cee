"""Running one message through the consume pipeline; the ``Settler`` then carries out its outcome.

::

    decode ─ DecodeError ──────────────────────────────► dead-letter  decode-error
           (a claim-check pointer) ─ bucket not allowed ► dead-letter  claim-check-refused
                     (no S3 call: claim_check.read_from)
                                   ├ S3 payload gone ──► dead-letter  claim-check-missing
                                   ├ over max_size ────► dead-letter  claim-check-too-large
                                   └ S3 failing ───────► redeliver    claim-check-unavailable
    handler for the type? ─ unknown type / version ────► dead-letter  unknown-event
                          └ declared, not on this queue ► dead-letter  no-handler
    registry.parse (upcast) ─ EventValidationError ────► dead-letter  validation-error
    middlewares (outermost first): log context, the user's (topology's, then the queue's),
        idempotency, in-process retry, timeout
    handler ─ ok ──────────────────────────────────────► handled     (delete, batched)
            └ error ─ decide(): RetryNow  ─► retry-now   (the retry middleware calls again)
                                Redeliver ─► redeliver   (ChangeMessageVisibility(delay))
                                DeadLetter ─► dead-letter rejected | handler-error | timeout

The refusals above the handler still pass through the middlewares, with their outcome set and no
event. An exception escaping the middlewares is judged like a handler error (its last try: no
in-process retry); a chain that returns without an outcome redelivers the message later. A stop
cancels what runs: the message is released (visible again at once). A ``CancelledError`` that is
not the task's own cancellation (the handler awaited something another task cancelled) is a
handler error like any other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from bus.claimcheck.pointer import find_pointer
from bus.claimcheck.resolve import ClaimReader
from bus.envelope import Envelope, decode
from bus.errors import (
    AwsError,
    ClaimCheckError,
    DecodeError,
    EventValidationError,
    HandlerError,
    UnknownEventError,
)
from bus.middleware.consume import HANDLED, ConsumeMiddleware, Incoming, Outcome, chain
from bus.middleware.timeout import HandlerTimeout
from bus.retry import Attempt, DeadLetterNow, RetryNow, backoff, decide
from bus.schema import Registry
from bus.worker.context import Context
from bus.worker.fields import envelope_fields, message_fields
from bus.worker.loader import Handler
from bus.worker.message import Received
from bus.worker.scope import QueueScope
from bus.worker.settle import Fate, Settler

if TYPE_CHECKING:
    from bus.publish.publisher import Publisher


class Processor:
    """Runs each message of one queue through its middlewares and handler, then settles it."""

    def __init__(
        self,
        scope: QueueScope,
        settler: Settler,
        registry: Registry,
        publisher: Publisher | None,
        middlewares: Sequence[ConsumeMiddleware] = (),
        claims: ClaimReader | None = None,
    ) -> None:
        self._scope = scope
        self._settler = settler
        self._registry = registry
        self._publisher = publisher
        self._claims = claims
        """Reads claim-check pointers' payloads from S3; None: bodies decode as they are."""
        self._chain = chain(middlewares, self._call_handler)

    async def process(self, msg: Received) -> Fate:
        """Handle ``msg`` and settle its fate; returns only once it is deleted, delayed, in a DLQ or
        released. FIFO: tried again in-process until one of those, a stop (``HELD``), or a wait
        that SQS's 12 hours from the receive could not hold (``RETURNED``: the caller gives the
        group back)."""
        attempt = msg.receive_count
        while True:
            fate = await self._once(msg, attempt)
            if fate is not Fate.HELD or self._scope.stopping.is_set():
                return fate
            attempt += 1

    async def _once(self, msg: Received, attempt: int) -> Fate:
        if self._scope.stopping.is_set():
            await self._settler.release([msg])
            return Fate.RELEASED
        try:
            delivery = await self._open(msg, attempt)  # awaits only to read a claim check
        except asyncio.CancelledError:
            await self._settler.release([msg])  # a stop during that read
            raise
        try:
            await self._chain(delivery)
        except asyncio.CancelledError as exc:
            if being_cancelled():  # a stop: the message is released at once
                delivery.log.warning("handler cancelled at shutdown; releasing the message")
                await self._settler.release([msg])
                delivery.settled(Outcome("redeliver", reason="shutdown"), Fate.RELEASED.value)
                raise
            outcome = self.judge(delivery, exc, last_try=True)  # a middleware's own
        except Exception as exc:
            outcome = self.judge(delivery, exc, last_try=True)
        else:
            outcome = delivery.outcome or self._no_outcome(delivery)
        try:
            fate = await self._settler.settle(delivery, outcome)
        except BaseException:
            delivery.settled(outcome, "error")
            raise
        delivery.settled(outcome, fate.value)
        return fate

    def _no_outcome(self, delivery: Incoming) -> Outcome:
        delay = backoff(self._scope.binding.policy.redelivery, delivery.attempt)
        delivery.log.warning("the middlewares set no outcome; redelivering later")
        return Outcome("redeliver", reason="no-outcome", delay=max(1.0, delay))

    # -- before the middlewares: decode and validate ----------------------------------------------

    async def _open(self, msg: Received, attempt: int) -> Incoming:
        scope = self._scope
        try:
            # an ordinary message decodes here, without an await: only a pointer reads from S3
            claims = self._claims
            found = (
                None if claims is None else find_pointer(msg.body, msg.attributes, msg.message_id)
            )
            if claims is None or found is None:
                env = decode(msg.body, msg.attributes, message_id=msg.message_id).envelope
            else:
                env = (await claims.decode_found(found, msg.message_id)).envelope
        except (DecodeError, AwsError) as exc:
            fields = message_fields(msg, attempt)
            log = scope.log.bind(**fields)
            delivery = Incoming(msg, scope.info.name, attempt, log, self.judge, fields)
            delivery.outcome = self._undecodable(delivery, exc)
            return delivery
        fields = envelope_fields(msg, env, attempt)
        log = scope.log.bind(**fields)
        delivery = Incoming(msg, scope.info.name, attempt, log, self.judge, fields)
        delivery.envelope = env
        self._prepare(delivery, env)
        return delivery

    def _undecodable(self, delivery: Incoming, exc: DecodeError | AwsError) -> Outcome:
        """Dead-letter what cannot be decoded; redeliver later when S3 failed to answer."""
        if isinstance(exc, AwsError):
            delivery.log.warning("claim-check payload unavailable", error=str(exc))
            delay = backoff(self._scope.binding.policy.redelivery, delivery.attempt)
            return Outcome("redeliver", reason="claim-check-unavailable", delay=delay, error=exc)
        delivery.log.debug("undecodable body", body=delivery.message.body[:2000])
        reason = exc.reason if isinstance(exc, ClaimCheckError) else "decode-error"
        return Outcome("dead-letter", reason=reason, error=exc)

    def _prepare(self, delivery: Incoming, env: Envelope) -> None:
        """The handler and the validated event, or the refusal as the delivery's outcome."""
        binding = self._scope.binding
        handler = binding.handlers.get(self._registry.event_name(env.type))
        try:
            if handler is None:
                self._registry.spec(env.type)  # UnknownEventError when the type is not declared
                error = HandlerError(f"no handler for {env.type} on queue {binding.queue}")
                delivery.outcome = Outcome("dead-letter", reason="no-handler", error=error)
                return
            delivery.event = self._registry.parse(env.type, env.version, env.data)
        except UnknownEventError as exc:
            delivery.outcome = Outcome("dead-letter", reason="unknown-event", error=exc)
            return
        except EventValidationError as exc:
            delivery.outcome = Outcome("dead-letter", reason="validation-error", error=exc)
            return
        delivery.handler = handler
        delivery.timeout = binding.timeout
        delivery.context = Context(
            message_id=delivery.message.message_id,
            queue=self._scope.info.name,
            attempt=delivery.attempt,
            envelope=env,
            log=delivery.log,
            publisher=self._publisher,
        )

    # -- the heart of the onion: the handler ------------------------------------------------------

    async def _call_handler(self, delivery: Incoming) -> None:
        if delivery.outcome is not None:  # refused before the handler
            return
        handler = cast(Handler, delivery.handler)
        try:
            if handler.takes_context:
                await handler.func(delivery.event, delivery.context)
            else:
                await handler.func(delivery.event)
        except Exception as exc:
            delivery.outcome = self.judge(delivery, exc)
        except asyncio.CancelledError as exc:
            if being_cancelled():  # a stop, or the timeout middleware's expiry
                raise
            delivery.outcome = self.judge(delivery, exc)  # the handler's own: an error
        else:
            delivery.outcome = HANDLED

    def judge(self, delivery: Incoming, error: BaseException, last_try: bool = False) -> Outcome:
        """The outcome the queue's retry policy gives ``error`` (``last_try``: no retry-now)."""
        policy = self._scope.binding.policy
        ctx = delivery.context
        tries = ctx.try_number if ctx is not None else 1
        if last_try:
            tries = max(tries, policy.attempts)
        attempt = Attempt(delivery.attempt, tries)
        decision = decide(policy, attempt, self._scope.info.max_receive_count, error)
        timed_out = isinstance(error, HandlerTimeout)
        if isinstance(decision, RetryNow):
            return Outcome("retry-now", reason="transient", delay=decision.delay, error=error)
        if isinstance(decision, DeadLetterNow):
            reason = (
                "timeout" if timed_out and decision.reason == "handler-error" else decision.reason
            )
            return Outcome("dead-letter", reason=reason, error=error)
        reason = "timeout" if timed_out else "handler-error"
        return Outcome("redeliver", reason=reason, delay=decision.delay, error=error)


def being_cancelled() -> bool:
    """Whether the running task itself is being cancelled (a stop, a handler ``timeout``), as
    opposed to a ``CancelledError`` of the handler's own: an awaited task or future that something
    else cancelled, which is judged like any handler error (retried, redelivered, dead-lettered),
    not taken for a stop (released at once, again and again, with no backoff and no
    ``bus.failure``)."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0
