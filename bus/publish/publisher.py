"""The async Publisher: validate, envelope, route to every declared destination, batch, report.

::

    async with Publisher.open(Settings.from_env(env="dev")) as publisher:
        result = await publisher.publish(OrderPlaced(...))
        results = await publisher.publish_many(events)

``publish`` raises: ``EventValidationError``/``UnknownEventError``/``MessageTooLargeError`` before
any call, ``PublishError`` (an ``AwsError`` with the AWS code) when a destination failed after
retries. ``publish_many`` never raises for one event's problem: each event gets a ``PublishResult``
(an invalid event is reported and not sent; the others are sent; a send that fails in any way fails
its entries, with the AWS code or the error's type), and ``check=True`` raises after all were
attempted (``results.failure_error``): an ``EventError`` when only refused events failed, else a
``PublishError`` naming every failed event. It prepares events one at a time and sends each batch
as soon as it is full (``pipeline``), so the first calls are on their way while later events are
still being validated. ``events`` may be an iterable or an async iterable. Publish middlewares
(``middleware=[...]``; ``Publisher.open`` adds topology.yaml's ``middleware.publish``) wrap the
preparation of each event and each batch call (``bus.middleware.publish``); without any, the path
is the same as before. A topology with ``claim_check`` adds ``bus.claimcheck.ClaimCheck`` last:
events too large for a destination travel through S3. If iterating ``events``
raises, the events handed over before are still sent (and retried) and the error then propagates,
with a note saying so; a cancelled call cancels its calls in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import structlog
from pydantic import BaseModel

from bus.aws import AwsClients, aws_errors
from bus.errors import EventError
from bus.middleware.publish import Outgoing, PublishMiddleware, chain_events
from bus.publish.collect import Sent, collect_results
from bus.publish.delivery import PublishRetry
from bus.publish.pipeline import Pipeline
from bus.publish.prepare import (
    Channel,
    EventRoute,
    FlowContext,
    Prepared,
    channel_of,
    prepare_routed,
    valid_traceparent,
)
from bus.publish.results import PublishResult, failure_error
from bus.publish.senders import EventsSender, Sender, SnsSender, SqsSender
from bus.publish.through import ThroughMiddleware
from bus.schema.registry import EventSpec, Registry
from bus.settings import Settings
from bus.topology.load import load_topology
from bus.topology.model import DEFAULT_BUS, Topology, physical_name

log = structlog.get_logger("bus.publish")

DEFAULT_IN_FLIGHT = 10
WINDOW_PER_CALL = 2
"""Batches a publish call may hand off ahead of their answers, per call the limiter allows."""


class EventPublisher(Protocol):
    """What handlers and applications publish through (a ``Publisher`` or a bound view of one)."""

    async def publish(
        self,
        event: BaseModel,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
    ) -> PublishResult: ...

    async def publish_many(
        self,
        events: Iterable[BaseModel],
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
        check: bool = False,
    ) -> list[PublishResult]: ...

    def bind(
        self,
        *,
        correlation_id: str,
        causation_id: str | None = None,
        traceparent: str | None = None,
    ) -> EventPublisher: ...


def load_registry(topology_path: Path, env: str | None = None) -> tuple[Topology, Registry]:
    """The topology at ``topology_path`` (checked for ``env``) and the registry of its models."""
    topology = load_topology(topology_path, env=env)
    return topology, Registry.from_topology(topology, topology_path.resolve().parent)


class Publisher:
    """Publishes events to the destinations ``topology.events`` declares (async)."""

    def __init__(
        self,
        aws: AwsClients,
        registry: Registry,
        topology: Topology,
        env: str | None,
        *,
        retry: PublishRetry | None = None,
        max_in_flight: int = DEFAULT_IN_FLIGHT,
        middleware: Sequence[PublishMiddleware] = (),
    ) -> None:
        self.aws = aws
        self.registry = registry
        self.topology = topology
        self.env = env
        self.retry = retry or PublishRetry()
        self.max_in_flight = max_in_flight
        self._limiter = asyncio.Semaphore(max_in_flight)
        self._routes: dict[str, EventRoute] = {}
        self._senders: dict[Channel, Sender] = {}
        self._lock = asyncio.Lock()
        self.middleware = list(middleware)
        if topology.claim_check is not None:  # large events travel through S3 (innermost step)
            from bus.claimcheck.offload import ClaimCheck

            self.middleware.append(ClaimCheck.of(aws, topology.claim_check, env))
        self._each_event = chain_events(self.middleware, self._prepare_outgoing)

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings | None = None,
        *,
        retry: PublishRetry | None = None,
        max_in_flight: int = DEFAULT_IN_FLIGHT,
        middleware: Sequence[PublishMiddleware] = (),
    ) -> AsyncIterator[Publisher]:
        """Load the topology named by ``settings``, open AWS clients, yield a ``Publisher``
        (with ``middleware``, then topology.yaml's ``middleware.publish``)."""
        from bus.middleware.load import publish_middlewares

        settings = settings or Settings.from_env()
        topology, registry = load_registry(settings.topology_path, settings.env)
        declared = publish_middlewares(topology.middleware.publish, settings.topology_path.parent)
        async with AwsClients(settings) as aws:
            yield cls(
                aws,
                registry,
                topology,
                settings.env,
                retry=retry,
                max_in_flight=max_in_flight,
                middleware=[*middleware, *declared],
            )

    # -- public API -----------------------------------------------------------------------------

    async def publish(
        self,
        event: BaseModel,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
    ) -> PublishResult:
        """Publish one event to each of its destinations; raise if it could not be."""
        context = FlowContext(correlation_id, causation_id, traceparent)
        results = await self._publish(_each([event]), context, refuse=False)
        error = failure_error(results)
        if error is not None:
            raise error
        return results[0]

    async def publish_many(
        self,
        events: Iterable[BaseModel] | AsyncIterable[BaseModel],
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
        check: bool = False,
    ) -> list[PublishResult]:
        """Publish events in batches; one result per event, in order (see the module doc)."""
        context = FlowContext(correlation_id, causation_id, traceparent)
        stream = events if isinstance(events, AsyncIterable) else _each(events)
        results = await self._publish(stream, context, refuse=True)
        if check:
            error = failure_error(results)
            if error is not None:
                raise error
        return results

    def bind(
        self,
        *,
        correlation_id: str,
        causation_id: str | None = None,
        traceparent: str | None = None,
    ) -> BoundPublisher:
        """A view whose events carry this flow's correlation id, causation id and trace."""
        return BoundPublisher(self, FlowContext(correlation_id, causation_id, traceparent))

    # -- preparation ----------------------------------------------------------------------------

    def _type_name(self, event: object) -> str | None:
        try:
            return self.registry.event_type_of(event).name  # type: ignore[arg-type]
        except (EventError, TypeError):
            return None

    def route(self, spec: EventSpec) -> EventRoute:
        """What preparing an event of type ``spec`` needs (worked out once per type)."""
        found = self._routes.get(spec.name)
        if found is None:
            channels = tuple(dict.fromkeys(channel_of(d, self.topology) for d in spec.destinations))
            found = self._routes[spec.name] = EventRoute.of(spec, channels)
        return found

    def channels(self, spec: EventSpec) -> tuple[Channel, ...]:
        """The distinct destinations of ``spec``."""
        return self.route(spec).channels

    def _prepare(self, index: int, event: BaseModel, context: FlowContext) -> Prepared:
        return prepare_routed(index, self.route(self.registry.event_type_of(event)), event, context)

    async def _prepare_outgoing(self, outgoing: Outgoing) -> None:
        if outgoing.prepared is not None:  # brought prepared by a middleware (an outbox row)
            outgoing.prepared = outgoing.prepared.traced(outgoing.traceparent)
            return
        context = FlowContext(outgoing.correlation_id, outgoing.causation_id, outgoing.traceparent)
        route = self.route(self.registry.event_type_of(outgoing.event))
        outgoing.prepared = prepare_routed(
            outgoing.index, route, outgoing.event, context, check_size=outgoing.check_size
        )

    async def _prepare_through(
        self, index: int, event: BaseModel, context: FlowContext
    ) -> Prepared:
        """``_prepare`` inside the publish middlewares."""
        outgoing = Outgoing(
            event, index, context.correlation_id, context.causation_id, context.traceparent
        )
        await self._each_event(outgoing)
        if outgoing.prepared is None:
            raise EventError(f"event {index}: a publish middleware prepared nothing")
        return outgoing.prepared

    # -- sending --------------------------------------------------------------------------------

    async def _sender(self, channel: Channel) -> Sender:
        sender = self._senders.get(channel)
        if sender is not None:
            return sender
        async with self._lock:
            sender = self._senders.get(channel)
            if sender is None:
                sender = await self._resolve(channel)
                if self.middleware:
                    sender = ThroughMiddleware(sender, self.middleware)
            self._senders[channel] = sender
        return sender

    async def _resolve(self, channel: Channel) -> Sender:
        if channel.kind == "topic":
            account = await self.aws.account()
            arn = account.arn("sns", physical_name(channel.name, self.env))
            return SnsSender(self.aws, channel, arn)
        if channel.kind == "queue":
            with aws_errors("GetQueueUrl"):
                answer = await self.aws.sqs.get_queue_url(
                    QueueName=physical_name(channel.name, self.env)
                )
            return SqsSender(self.aws, channel, answer["QueueUrl"])
        bus = channel.name if channel.name == DEFAULT_BUS else physical_name(channel.name, self.env)
        return EventsSender(self.aws, channel, bus)

    async def _publish(
        self, events: AsyncIterable[BaseModel], context: FlowContext, *, refuse: bool
    ) -> list[PublishResult]:
        """Prepare and send ``events``; an invalid one is refused (``refuse``) or raises."""
        self.aws.ensure_loop()
        pipeline = Pipeline(
            self._sender,
            retry=self.retry,
            limiter=self._limiter,
            window=WINDOW_PER_CALL * self.max_in_flight,
        )
        refused: dict[int, PublishResult] = {}
        sent: list[Sent] = []
        index = 0
        try:
            try:
                async for event in events:
                    try:
                        if self.middleware:
                            item = await self._prepare_through(index, event, context)
                        else:
                            item = self._prepare(index, event, context)
                    except EventError as exc:
                        if not refuse:
                            raise
                        refused[index] = self._refusal(index, event, exc)
                    else:
                        sent.append(Sent.of(item))
                        await pipeline.add(item)  # sends record failures: this never raises
                    index += 1
            except Exception as exc:
                if sent:  # the events failed to come: what was handed over still goes out
                    collect_results(sent, await pipeline.finish(), refused)
                    exc.add_note(
                        f"publish_many: the {len(sent)} events handed over before this error "
                        "were published (failures, if any, were logged as publish.failed)"
                    )
                raise
            outcomes = await pipeline.finish()
        except BaseException:  # cancelled (or the sending broke): stop the calls in flight
            await pipeline.abort()
            raise
        return collect_results(sent, outcomes, refused)

    def _refusal(self, index: int, event: BaseModel, exc: EventError) -> PublishResult:
        name = self._type_name(event)
        log.warning("publish.refused", index=index, event_type=name, error=str(exc))
        return PublishResult(index, name, None, error=exc)


async def _each(events: Iterable[BaseModel]) -> AsyncIterator[BaseModel]:
    for event in events:
        yield event


class BoundPublisher:
    """A ``Publisher`` view whose events carry one flow's context (the worker gives handlers one).

    The bound ``traceparent`` is a received one (the consumed event's): when it is not W3C Trace
    Context it is dropped, as W3C asks of a receiver, so the flow's follow-up events still go out
    (without it). A ``traceparent`` passed to ``publish`` itself is checked and refused if invalid.
    """

    def __init__(self, publisher: Publisher, context: FlowContext) -> None:
        self._publisher = publisher
        if context.traceparent is not None and not valid_traceparent(context.traceparent):
            context = replace(context, traceparent=None)
        self.context = context

    async def publish(
        self,
        event: BaseModel,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
    ) -> PublishResult:
        c = self.context
        return await self._publisher.publish(
            event,
            correlation_id=correlation_id or c.correlation_id,
            causation_id=causation_id or c.causation_id,
            traceparent=traceparent or c.traceparent,
        )

    async def publish_many(
        self,
        events: Iterable[BaseModel],
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
        check: bool = False,
    ) -> list[PublishResult]:
        c = self.context
        return await self._publisher.publish_many(
            events,
            correlation_id=correlation_id or c.correlation_id,
            causation_id=causation_id or c.causation_id,
            traceparent=traceparent or c.traceparent,
            check=check,
        )

    def bind(
        self,
        *,
        correlation_id: str,
        causation_id: str | None = None,
        traceparent: str | None = None,
    ) -> BoundPublisher:
        return BoundPublisher(
            self._publisher, FlowContext(correlation_id, causation_id, traceparent)
        )
