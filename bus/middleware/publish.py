"""The publish pipeline's seam: middlewares around each event and each batch call.

::

    class Stamp(PublishMiddleware):
        async def event(self, outgoing: Outgoing, call_next: NextEvent) -> None:
            outgoing.traceparent = outgoing.traceparent or current_traceparent()
            await call_next(outgoing)        # validate, envelope, encode: outgoing.prepared

        async def batch(self, batch: OutgoingBatch, call_next: NextBatch) -> None:
            await call_next(batch)           # one SendMessageBatch / PublishBatch / PutEvents
            sent.inc(sum(1 for o in batch.outcomes if o.message_id))

``event`` wraps the preparation of each event (before it joins a batch): it may change the flow
fields (correlation id, causation id, traceparent) before ``call_next`` and read the prepared
message after it; an exception refuses the event as a validation error would (``publish`` raises
it, ``publish_many`` reports it in the event's result). ``batch`` wraps every call to AWS, retries
of failed entries included: ``batch.outcomes`` holds one outcome per entry after ``call_next``; an
exception fails every entry of the batch with the error's type as its code, as a failed call does.
The first middleware of the list is the outermost. ``PublishMiddleware``'s methods pass through, so
a subclass overrides only what it needs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from bus.publish.prepare import Channel, Prepared
    from bus.publish.senders import EntryOutcome


@dataclass
class Outgoing:
    """One event being published."""

    event: BaseModel
    index: int
    """Its position in the publish call."""
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None
    prepared: Prepared | None = None
    """Set by ``call_next``: the envelope id, body, attributes and destinations. A middleware
    that brings a message prepared earlier (the outbox's ``RestoreRows``) sets it before
    ``call_next``: the Publisher then keeps it, with ``traceparent`` stamped in its envelope."""
    check_size: bool = True
    """Whether ``call_next`` refuses an event over a destination's size limit; a middleware that
    makes large events fit (the claim check) sets it false and checks the sizes itself."""


@dataclass
class OutgoingBatch:
    """One call to AWS for one destination (``channel.label``: ``queue:billing`` ...)."""

    channel: Channel
    entries: Sequence[Prepared]
    outcomes: list[EntryOutcome] = field(default_factory=list)
    """Set by ``call_next``: one per entry (``message_id``, or ``code`` and ``message``)."""


T = TypeVar("T")
NextEvent = Callable[[Outgoing], Awaitable[None]]
NextBatch = Callable[[OutgoingBatch], Awaitable[None]]


class PublishMiddleware:
    """Wraps each event (``event``) and each batch call (``batch``); both pass through here."""

    async def event(self, outgoing: Outgoing, call_next: NextEvent) -> None:
        await call_next(outgoing)

    async def batch(self, batch: OutgoingBatch, call_next: NextBatch) -> None:
        await call_next(batch)


def chain_events(middlewares: Sequence[PublishMiddleware], inner: NextEvent) -> NextEvent:
    call = inner
    for middleware in reversed(middlewares):
        call = _event_layer(middleware, call)
    return call


def chain_batches(middlewares: Sequence[PublishMiddleware], inner: NextBatch) -> NextBatch:
    call = inner
    for middleware in reversed(middlewares):
        call = _batch_layer(middleware, call)
    return call


class _Layer(Generic[T]):
    """One middleware hook with the rest of the chain bound: calling it returns the hook's own
    coroutine (no coroutine of its own around it)."""

    __slots__ = ("_call_next", "_hook")

    def __init__(
        self,
        hook: Callable[[T, Callable[[T], Awaitable[None]]], Awaitable[None]],
        call_next: Callable[[T], Awaitable[None]],
    ) -> None:
        self._hook = hook
        self._call_next = call_next

    def __call__(self, item: T) -> Awaitable[None]:
        return self._hook(item, self._call_next)


def _event_layer(middleware: PublishMiddleware, call_next: NextEvent) -> NextEvent:
    return _Layer(middleware.event, call_next)


def _batch_layer(middleware: PublishMiddleware, call_next: NextBatch) -> NextBatch:
    return _Layer(middleware.batch, call_next)
