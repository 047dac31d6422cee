"""The async Publisher: validate, envelope, route to every declared destination, batch, report.

::

    async with Publisher.open(Settings.from_env(env="dev")) as publisher:
        result = await publisher.publish(OrderPlaced(...))
        results = await publisher.publish_many(events)

``publish`` raises: ``EventValidationError``/``UnknownEventError``/``MessageTooLargeError`` before
any call, ``PublishError`` (an ``AwsError`` with the AWS code) when a destination failed after
retries. ``publish_many`` never raises for one event's problem: each event gets a ``PublishResult``
(an invalid event is reported and not sent; the others are sent), and ``check=True`` raises a
``PublishError`` naming every failed event after all were attempted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

import structlog
from pydantic import BaseModel

from bus.aws import AwsClients, aws_errors
from bus.errors import AwsError, EventError
from bus.publish.delivery import PublishRetry, deliver
from bus.publish.prepare import Channel, Context, Prepared, channel_of, prepare
from bus.publish.results import Delivery, PublishResult, failure_error
from bus.publish.senders import EventsSender, Outcome, Sender, SnsSender, SqsSender, entry_id
from bus.schema.registry import EventSpec, Registry
from bus.settings import Settings
from bus.topology.load import load_topology
from bus.topology.model import DEFAULT_BUS, Topology, physical_name

log = structlog.get_logger("bus.publish")

DEFAULT_IN_FLIGHT = 10


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
    ) -> None:
        self.aws = aws
        self.registry = registry
        self.topology = topology
        self.env = env
        self.retry = retry or PublishRetry()
        self._limiter = asyncio.Semaphore(max_in_flight)
        self._channels: dict[str, tuple[Channel, ...]] = {}
        self._senders: dict[Channel, Sender] = {}
        self._lock = asyncio.Lock()

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings | None = None,
        *,
        retry: PublishRetry | None = None,
        max_in_flight: int = DEFAULT_IN_FLIGHT,
    ) -> AsyncIterator[Publisher]:
        """Load the topology named by ``settings``, open AWS clients, yield a ``Publisher``."""
        settings = settings or Settings.from_env()
        topology, registry = load_registry(settings.topology_path, settings.env)
        async with AwsClients(settings) as aws:
            yield cls(
                aws, registry, topology, settings.env, retry=retry, max_in_flight=max_in_flight
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
        context = Context(correlation_id, causation_id, traceparent)
        prepared = self._prepare(0, event, context)
        results = await self._send([prepared], {})
        error = failure_error(results)
        if error is not None:
            raise error
        return results[0]

    async def publish_many(
        self,
        events: Iterable[BaseModel],
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
        check: bool = False,
    ) -> list[PublishResult]:
        """Publish events in batches; one result per event, in order (see the module doc)."""
        context = Context(correlation_id, causation_id, traceparent)
        refused: dict[int, PublishResult] = {}
        prepared: list[Prepared] = []
        for index, event in enumerate(events):
            try:
                prepared.append(self._prepare(index, event, context))
            except EventError as exc:
                name = self._type_name(event)
                refused[index] = PublishResult(index, name, None, error=exc)
                log.warning("publish.refused", index=index, event_type=name, error=str(exc))
        results = await self._send(prepared, refused)
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
        return BoundPublisher(self, Context(correlation_id, causation_id, traceparent))

    # -- preparation ----------------------------------------------------------------------------

    def _type_name(self, event: object) -> str | None:
        try:
            return self.registry.event_type_of(event).name  # type: ignore[arg-type]
        except (EventError, TypeError):
            return None

    def channels(self, spec: EventSpec) -> tuple[Channel, ...]:
        """The distinct destinations of ``spec``."""
        found = self._channels.get(spec.name)
        if found is None:
            found = tuple(dict.fromkeys(channel_of(d, self.topology) for d in spec.destinations))
            self._channels[spec.name] = found
        return found

    def _prepare(self, index: int, event: BaseModel, context: Context) -> Prepared:
        spec = self.registry.event_type_of(event)
        return prepare(index, spec, event, self.channels(spec), context)

    # -- sending --------------------------------------------------------------------------------

    async def _sender(self, channel: Channel) -> Sender:
        sender = self._senders.get(channel)
        if sender is not None:
            return sender
        async with self._lock:
            sender = self._senders.get(channel) or await self._resolve(channel)
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

    async def _deliver(self, channel: Channel, items: list[Prepared]) -> dict[str, Outcome]:
        try:
            sender = await self._sender(channel)
        except AwsError as exc:
            return {
                entry_id(i): Outcome(entry_id(i), code=exc.code, message=str(exc)) for i in items
            }
        return await deliver(sender, items, retry=self.retry, limiter=self._limiter)

    async def _send(
        self, prepared: list[Prepared], refused: dict[int, PublishResult]
    ) -> list[PublishResult]:
        by_channel: dict[Channel, list[Prepared]] = {}
        for item in prepared:
            for channel in item.channels:
                by_channel.setdefault(channel, []).append(item)
        channels = list(by_channel)
        answers = await asyncio.gather(*(self._deliver(c, by_channel[c]) for c in channels))
        outcomes = dict(zip(channels, answers, strict=True))
        results = dict(refused)
        for item in prepared:
            results[item.index] = _result(item, outcomes)
        ordered = [results[i] for i in sorted(results)]
        for r in ordered:
            if r.error is None and not r.ok:
                log.warning("publish.failed", result=r.describe())
        return ordered


def _result(item: Prepared, outcomes: dict[Channel, dict[str, Outcome]]) -> PublishResult:
    deliveries = []
    for channel in item.channels:
        outcome = outcomes[channel][entry_id(item)]
        deliveries.append(
            Delivery(channel.label, outcome.message_id, outcome.code, outcome.message)
        )
    return PublishResult(item.index, item.spec.name, item.id, tuple(deliveries))


class BoundPublisher:
    """A ``Publisher`` view whose events carry one flow's context (the worker gives handlers one)."""

    def __init__(self, publisher: Publisher, context: Context) -> None:
        self._publisher = publisher
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
        return BoundPublisher(self._publisher, Context(correlation_id, causation_id, traceparent))
