"""OpenTelemetry traces from publish to handler, as middlewares (the OpenTelemetry messaging
semantic conventions; see docs/observability.md).

::

    tracing = Tracing()                               # the global TracerProvider, or tracer_provider=
    worker = Worker(aws, topology, middleware=[tracing.consume], publish_middleware=[tracing.publish])
    async with Publisher.open(settings, middleware=[tracing.publish]) as publisher: ...

Publishing: one PRODUCER span per event (``publish OrderPlaced``), from its preparation until
each of its destinations answered its first call; its context is the event's ``traceparent``. Each
AWS call (PublishBatch, SendMessageBatch, PutEvents) is a CLIENT span ``send <destination>``
linking the events it carries. Consuming: one CONSUMER span per delivery (``process <queue>``),
from the moment handling starts until its outcome is carried out (deleted, redelivered later,
dead-lettered), a child of the producer's span: one trace per flow. In-process retries,
redeliveries and dead-lettering are span events; the handler's follow-up events are children of it.
A message with SQS's ``AWSTraceHeader`` and no ``traceparent`` continues that X-Ray trace.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from bus.middleware.consume import HANDLED as HANDLED_OUTCOME
from bus.middleware.consume import CallNext, Incoming, Outcome
from bus.middleware.publish import NextBatch, NextEvent, Outgoing, OutgoingBatch, PublishMiddleware
from bus.otel.current import attach_span, detach
from bus.otel.light import LightSpan, LightTracer
from bus.otel.traceparent import EMPTY, context_of, span_context_of, traceparent_of
from bus.otel.xray import xray_to_traceparent

if TYPE_CHECKING:
    from bus.publish.prepare import Channel, Prepared
    from bus.publish.senders import EntryOutcome

SYSTEMS = {"topic": "aws.sns", "queue": "aws_sqs", "bus": "aws_eventbridge"}
"""``messaging.system`` by kind of destination (the conventions' values for SNS and SQS)."""
CALLS = {"topic": "PublishBatch", "queue": "SendMessageBatch", "bus": "PutEvents"}
_SEND = {"messaging.operation.type": "send", "messaging.operation.name": "publish"}
"""The attributes every PRODUCER span starts with (the SDK copies them: one dict serves all)."""
_CONSUMER, _PRODUCER, _CLIENT = SpanKind.CONSUMER, SpanKind.PRODUCER, SpanKind.CLIENT
"""Looked up once: an enum member read from its class goes through its ``__getattr__`` hook."""
REMEMBERED = 10_000
"""Event spans kept open, waiting for their destinations' answers (beyond: the oldest is ended)."""


def _current_parent() -> otel_context.Context | None:
    """The current context when a span is active in it (a handler publishing)."""
    if trace.get_current_span().get_span_context().is_valid:
        return otel_context.get_current()
    return None


@dataclass
class _Open:
    span: Span
    waiting: int
    """How many of its destinations have not answered yet (every first call is answered before
    any entry is retried: ``Pipeline.finish``, ``deliver``)."""
    message_id: str | None = None
    """The id its only destination gave it (set on the span when it ends)."""


@dataclass(frozen=True, eq=False)
class _Route:
    """An event span's name and the attributes every event of its type and destinations shares."""

    name: str
    attributes: dict[str, str]


_UNKNOWN = _Route("publish", _SEND)
"""The start of an event span whose class was not published before."""


class TracingPublish(PublishMiddleware):
    """The publish half: a PRODUCER span per event, a CLIENT span per batch call (light spans
    unless ``light`` is False or the provider does not allow them: see bus.otel.light)."""

    def __init__(self, tracer: trace.Tracer, *, light: bool = True) -> None:
        self.spans = LightTracer(tracer, enabled=light)
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self._sent: OrderedDict[str, trace.SpanContext] = OrderedDict()
        """Event spans already ended, for the links of their retried entries."""
        self._routes: dict[tuple[str, tuple[Channel, ...]], _Route] = {}
        self._guesses: dict[type, _Route] = {}
        """The route the last event of each class had: its span starts with that name and those
        attributes (checked once the event is prepared, corrected if it went elsewhere)."""

    async def event(self, outgoing: Outgoing, call_next: NextEvent) -> None:
        parent = _current_parent() or context_of(outgoing.traceparent)
        guess = self._guesses.get(type(outgoing.event), _UNKNOWN)
        span = self.spans.start(guess.name, parent or EMPTY, _PRODUCER, guess.attributes)
        outgoing.traceparent = traceparent_of(span)
        try:
            await call_next(outgoing)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"refused: {type(exc).__name__}"))
            span.end()
            raise
        item = outgoing.prepared
        if item is None:
            span.end()
            return
        if not span.is_recording():  # sampled out: no attributes, no answer to wait for
            span.end()
            return
        route = self._route(item)
        if route is not guess:  # the first event of its class, or one routed elsewhere
            span.update_name(route.name)
            span.set_attributes(route.attributes)
            self._guesses[type(outgoing.event)] = route
        self._remember(item.id, _Open(span, len(item.channels)))

    def _route(self, item: Prepared) -> _Route:
        """The span name and attributes every event of ``item``'s type and destinations shares
        (built once per type and set of destinations, then reused)."""
        key = (item.spec.name, item.channels)
        found = self._routes.get(key)
        if found is None:
            found = self._routes[key] = _Route(
                f"publish {item.spec.name}", {**_SEND, **_event_attributes(item)}
            )
        return found

    def _remember(self, event_id: str, opened: _Open) -> None:
        self._open[event_id] = opened
        while len(self._open) > REMEMBERED:  # a destination never answered (not found, ...)
            event_id, oldest = self._open.popitem(last=False)
            oldest.span.set_attribute("bus.event.id", event_id)
            oldest.span.set_status(Status(StatusCode.ERROR, "no answer from its destinations"))
            oldest.span.end()

    def _context(self, event_id: str) -> trace.SpanContext | None:
        opened = self._open.get(event_id)
        return opened.span.get_span_context() if opened else self._sent.get(event_id)

    async def batch(self, batch: OutgoingBatch, call_next: NextBatch) -> None:
        channel = batch.channel
        links = [Link(c) for item in batch.entries if (c := self._context(item.id)) is not None]
        attributes = {
            **_destination(channel),
            "messaging.operation.type": "send",
            "messaging.operation.name": CALLS[channel.kind],
            "messaging.batch.message_count": len(batch.entries),
        }
        span = self.spans.start(f"send {channel.name}", None, _CLIENT, attributes, links)
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await call_next(batch)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        else:
            failed = sum(1 for o in batch.outcomes if o.message_id is None)
            if failed:
                span.set_status(Status(StatusCode.ERROR, f"{failed} entries failed"))
        finally:
            otel_context.detach(token)
            span.end()
        outcomes = {o.entry_id: o for o in batch.outcomes}
        for item in batch.entries:
            self._answered(item, channel, outcomes.get(str(item.index)))

    def _answered(self, item: Prepared, channel: Channel, outcome: EntryOutcome | None) -> None:
        opened = self._open.get(item.id)
        if opened is None:
            return
        span = opened.span
        opened.waiting -= 1
        if outcome is not None and outcome.message_id is not None:
            if len(item.channels) == 1:
                opened.message_id = outcome.message_id
            else:
                sent = {"destination": channel.label, "message_id": outcome.message_id}
                span.add_event("sent", sent)
        else:
            code = outcome.code if outcome else "NoOutcome"
            retried = bool(outcome and outcome.retryable)
            span.add_event("failed", {"destination": channel.label, "code": str(code)})
            span.set_status(
                Status(
                    StatusCode.ERROR, f"{channel.label}: {code}{' (retried)' if retried else ''}"
                )
            )
        if opened.waiting <= 0:
            done = {"bus.event.id": item.id}  # the event's own attributes: one call, at its end
            if opened.message_id is not None:
                done["messaging.message.id"] = opened.message_id
            _put_all(span, done)
            del self._open[item.id]
            self._sent[item.id] = span.get_span_context()
            while len(self._sent) > REMEMBERED:
                self._sent.popitem(last=False)
            span.end()


def _put_all(span: Span, attributes: dict[str, str]) -> None:
    """bus's own clean attributes: a light span takes them without cleaning."""
    if isinstance(span, LightSpan):
        span.put_all(attributes)
    else:
        span.set_attributes(attributes)


def _destination(channel: Channel) -> dict[str, str]:
    return {"messaging.system": SYSTEMS[channel.kind], "messaging.destination.name": channel.name}


def _event_attributes(item: Prepared) -> dict[str, str]:
    """The attributes of an event's span but its id: its type and destinations."""
    attributes = {"bus.event.type": item.spec.name}
    if len(item.channels) == 1:
        attributes.update(_destination(item.channels[0]))
    else:
        attributes["messaging.destination.name"] = ",".join(c.name for c in item.channels)
    return attributes


class TracingConsume:
    """The consume half: a CONSUMER ``process`` span per delivery, from handling to settling.

    Per delivery: the parent's span context read from the ``traceparent`` (no ``Context`` built:
    ``LightTracer.start_child``), one span started from it with every attribute known then (in
    one dict made at its size: no copy of a shared one, no resize), made current by one context
    variable set (bus.otel.current; no context manager), and at settling (a ``functools.partial``
    hook) one attribute and ``end``. A span the sampler dropped (not recording) gets no settle
    hook at all. The span is a ``LightSpan`` (bus.otel.light: the same exported span for less
    CPU) unless ``light`` is False or the provider does not allow it; then the SDK's."""

    def __init__(self, tracer: trace.Tracer, *, light: bool = True) -> None:
        self.spans = LightTracer(tracer, enabled=light)
        self._names: dict[str, str] = {}
        """Per queue: the name of its deliveries' spans."""

    def queue(self, queue: str) -> str:
        """The span name of ``queue``'s deliveries (made once, then reused)."""
        found = self._names.get(queue)
        if found is None:
            found = self._names[queue] = f"process {queue}"
        return found

    async def __call__(self, delivery: Incoming, call_next: CallNext) -> None:
        name = self._names.get(delivery.queue) or self.queue(delivery.queue)
        remote, attributes = _opening(delivery)
        span = self.spans.start_child(name, remote, _CONSUMER, attributes)
        # not when the sampler dropped it: nothing to finish then (a new light span records)
        if type(span) is LightSpan or span.is_recording():
            delivery.when_settled(partial(_settled, span, delivery))
        token = attach_span(span)
        try:
            await call_next(delivery)
        finally:
            detach(token)


def _xray_parent(delivery: Incoming) -> trace.SpanContext | None:
    """The span context SQS's ``AWSTraceHeader`` names (an X-Ray instrumented producer)."""
    header = delivery.message.system.get("AWSTraceHeader")
    return span_context_of(xray_to_traceparent(header)) if header else None


def _opening(delivery: Incoming) -> tuple[trace.SpanContext | None, dict[str, str | int]]:
    """What a delivery's span starts from: the producer's span context (the envelope's
    ``traceparent``, else SQS's ``AWSTraceHeader``; None when neither names one) and its
    attributes: the queue's, its message id, attempt, event id and type (one dict literal: made
    with room for them all and the outcome, so none of them resizes it)."""
    message = delivery.message
    attributes: dict[str, str | int] = {
        "messaging.system": "aws_sqs",
        "messaging.destination.name": delivery.queue,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.message.id": message.message_id,
        "bus.attempt": delivery.attempt,
    }
    env = delivery.envelope
    remote = None
    if env is not None:
        attributes["bus.event.id"] = env.id
        attributes["bus.event.type"] = env.type
        remote = span_context_of(env.traceparent)
    group = message.group_id
    if group:
        attributes["messaging.aws_sqs.message_group_id"] = group
    return _xray_parent(delivery) if remote is None else remote, attributes


def _settled(span: Span, delivery: Incoming, outcome: Outcome, fate: str) -> None:
    """The settle hook of one delivery's span (bound to them by ``functools.partial``: made
    without a Python call). The common case (handled at the first try) costs one attribute
    and ``end``; a light span takes bus's own clean attribute without cleaning."""
    ctx = delivery.context
    tries = ctx.try_number if ctx is not None else 1
    if outcome is HANDLED_OUTCOME and tries == 1 and fate == "handled":
        if type(span) is LightSpan:
            span.put("bus.outcome", "handled")
        else:
            span.set_attribute("bus.outcome", "handled")
        span.end()
    else:
        _finish(span, outcome, fate, tries)


def _finish(span: Span, outcome: Outcome, fate: str, tries: int) -> None:
    """Any other outcome: its attributes, its retries and what became of it as events."""
    for number in range(1, tries):
        span.add_event("retry", {"bus.try": number})
    attributes = {"bus.outcome": outcome.kind, "bus.fate": fate}
    if outcome.reason:
        attributes["bus.outcome.reason"] = outcome.reason
    span.set_attributes(attributes)
    details: dict[str, str | float] = {"reason": outcome.reason or ""}
    if outcome.error is not None:
        span.record_exception(outcome.error)
        details["error.type"] = type(outcome.error).__name__
    if outcome.kind == "redeliver":
        span.add_event("redeliver", {**details, "delay": outcome.delay})
    elif outcome.kind == "dead-letter":
        span.add_event("dead-letter", {**details, "moved": fate == "failed"})
    if not outcome.deletes:
        span.set_status(Status(StatusCode.ERROR, f"{outcome.kind}: {outcome.reason}"))
    span.end()


class Tracing:
    """Traces for a worker and its publisher: ``consume`` and ``publish`` middlewares sharing one
    tracer (``tracer_provider``: the global one when None). ``light=False`` makes every span
    through the SDK's ``Tracer.start_span`` (see bus.otel.light)."""

    def __init__(
        self, tracer_provider: trace.TracerProvider | None = None, *, light: bool = True
    ) -> None:
        tracer = trace.get_tracer("bus", tracer_provider=tracer_provider)
        self.consume = TracingConsume(tracer, light=light)
        self.publish = TracingPublish(tracer, light=light)


_TRACEPARENT_IN_BODY = re.compile(
    r'"traceparent\\?"\s*:\s*\\?"(?P<tp>[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})'
)


class MovedLinks:
    """The links of a redrive's (or replay's) own span: one per message it moved, to the trace
    that message carries (the ``traceparent`` in its body, else its ``AWSTraceHeader``)."""

    def __init__(self, span: Span) -> None:
        self.span = span

    def add(self, body: str, trace_header: str | None = None) -> None:
        found = _TRACEPARENT_IN_BODY.search(body)
        text = (
            found["tp"] if found else (xray_to_traceparent(trace_header) if trace_header else None)
        )
        parent = context_of(text)
        if parent is not None:
            self.span.add_link(trace.get_current_span(parent).get_span_context())


@contextmanager
def moving(
    operation: str, queue: str, tracer_provider: trace.TracerProvider | None = None
) -> Iterator[MovedLinks]:
    """The span of one ``bus dlq redrive`` or ``replay`` (``operation``) of ``queue``."""
    tracer = trace.get_tracer("bus", tracer_provider=tracer_provider)
    attributes = {"messaging.system": "aws_sqs", "messaging.destination.name": queue}
    with tracer.start_as_current_span(
        f"{operation} {queue}", kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        yield MovedLinks(span)
