"""Metrics of consuming and publishing, through the OpenTelemetry metrics API.

::

    metrics = Metrics(meter_provider)                   # None: the global provider
    worker = Worker(aws, topology, middleware=[metrics], publish_middleware=[metrics])
    publisher = Publisher(aws, registry, topology, env, middleware=[metrics])

One object is both a consume middleware (``__call__``) and a publish middleware (``event``,
``batch``). It records, following the OpenTelemetry messaging conventions where they name a metric:

======================================  ==========  ==========================================
``messaging.client.consumed.messages``  counter     deliveries to a handler queue (one per
                                                    receive, undecodable bodies included)
``messaging.process.duration``          histogram   seconds from the pipeline's start to its
                                                    outcome (``bus.outcome``, ``bus.reason``,
                                                    ``error.type``)
``messaging.client.sent.messages``      counter     events sent per destination and call; a
                                                    failed entry carries ``error.type`` (the
                                                    AWS code), and ``bus.retryable`` when the
                                                    publisher sends it again
``bus.messages.handled``                counter     ``bus.outcome``: ``handled`` or
                                                    ``duplicate``
``bus.messages.retried``                counter     ``bus.retry``: ``in-process`` (tried again
                                                    here) or ``redeliver`` (visible again
                                                    later), with ``bus.reason``
``bus.messages.dead_lettered``          counter     to the DLQ now, with ``bus.reason`` and
                                                    ``error.type``
``bus.messages.in_flight``              up-down     deliveries in the pipeline right now
``bus.message.latency``                 histogram   seconds from the event's ``time`` to the
                                                    start of its handling (end to end)
``bus.worker.loop.blocked``             histogram   seconds of each stretch the worker's event
                                                    loop was blocked (its count: the stretches),
                                                    as the loop watchdog reports them when the
                                                    loop runs again (``bus.worker.watchdog``)
======================================  ==========  ==========================================

Every consume metric carries ``messaging.system`` (``aws_sqs``), ``messaging.destination.name``
(the queue's logical name) and ``bus.event.type`` (absent when the body did not decode;
``(unknown)`` for a type the topology does not declare, so that bad input cannot grow the label
set). The counters are asynchronous instruments over plain dict tallies (``Tally``), and the
attribute sets are cached; the two histograms are aggregated by bus (bucket counts, sum, min, max
per attribute set) and merged into the SDK's aggregations before every collection, so a reader
never misses a record (``bus.otel.histogram.Merged``: exact, see that module for the SDK
internals it relies on and when it falls back to the SDK's path per record, ``Batched``, as with
exemplars wanted). A delivery costs two bisects and a few dict updates. ``Metrics(provider,
merge=False)`` asks for the SDK's path per record.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import metrics as otel

from bus.middleware.consume import CallNext, Incoming, Outcome
from bus.middleware.publish import NextBatch, NextEvent, Outgoing, OutgoingBatch, PublishMiddleware
from bus.otel.histogram import histogram
from bus.otel.tracing import SYSTEMS

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricReader

    from bus.publish.prepare import Channel

Attributes = Mapping[str, str]

SCOPE = "bus"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
"""The boundaries the messaging conventions advise for durations, in seconds."""
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
"""End-to-end latency spans redeliveries and backlogs: up to an hour."""
BLOCKED_BUCKETS = (1, 2.5, 5, 10, 30, 60, 300)
"""A blocked stretch lasts at least ``blocked_after`` (1 s by default)."""
UNKNOWN = "(unknown)"


class Tally:
    """Cumulative counts by attribute set, kept in a dict and reported by an asynchronous
    (observable) instrument when a reader collects: an increment costs a dict update, not a
    synchronous instrument's ``add`` (several microseconds each in the SDK)."""

    __slots__ = ("attributes", "counts")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.attributes: dict[int, Attributes] = {}

    def add(self, attributes: Attributes, amount: int = 1) -> None:
        """Add ``amount`` for ``attributes`` (a cached mapping: counted by its identity)."""
        key = id(attributes)
        count = self.counts.get(key)
        if count is None:
            self.attributes[key] = attributes
            self.counts[key] = amount
        else:
            self.counts[key] = count + amount

    def observe(self, options: otel.CallbackOptions) -> list[otel.Observation]:
        return [otel.Observation(n, self.attributes[k]) for k, n in list(self.counts.items())]


class Metrics(PublishMiddleware):
    """The consume and publish middleware recording bus's metrics (see the module's table)."""

    def __init__(
        self, meter_provider: otel.MeterProvider | None = None, *, merge: bool = True
    ) -> None:
        from bus import __version__

        provider = meter_provider or otel.get_meter_provider()
        meter = provider.get_meter(SCOPE, __version__)
        self.consumed, self.handled, self.retried = Tally(), Tally(), Tally()
        self.dead_lettered, self.settled, self.sent = Tally(), Tally(), Tally()
        counters = (
            ("messaging.client.consumed.messages", self.consumed, "Deliveries to a queue."),
            ("bus.messages.handled", self.handled, "Handled (or skipped as duplicates)."),
            ("bus.messages.retried", self.retried, "Tried again in-process, or redelivered."),
            ("bus.messages.dead_lettered", self.dead_lettered, "Sent to the dead-letter queue."),
            ("messaging.client.sent.messages", self.sent, "Events sent, per destination."),
        )
        for name, tally, description in counters:
            meter.create_observable_counter(name, [tally.observe], "{message}", description)
        self.duration = histogram(
            meter.create_histogram(
                "messaging.process.duration",
                "s",
                "Time to process one delivery, to its outcome.",
                explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
            ),
            merge,
        )
        self.latency = histogram(
            meter.create_histogram(
                "bus.message.latency",
                "s",
                "From the event's time to the start of its handling.",
                explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
            ),
            merge,
        )
        meter.create_observable_up_down_counter(
            "bus.messages.in_flight",
            [self.duration.observe, self.latency.observe, self._in_flight],
            "{message}",
            "Deliveries in the consume pipeline now.",
        )
        self._contexts = self.duration.contexts or self.latency.contexts
        """Whether a record's context can be exported (an exemplar: the per-record path with the
        SDK's default filter); only then is the current context read for each delivery."""
        self._blocked = meter.create_histogram(
            "bus.worker.loop.blocked",
            "s",
            "Stretches the worker's event loop was blocked (by a handler calling blocking code).",
            explicit_bucket_boundaries_advisory=BLOCKED_BUCKETS,
        )
        self._consume: dict[tuple[str, str | None], dict[str, str]] = {}
        self._outcomes: dict[tuple[int, str, str | None, str | None], dict[str, str]] = {}
        self._channels: dict[str, dict[str, str]] = {}

    # -- consume ----------------------------------------------------------------------------------

    async def __call__(self, delivery: Incoming, call_next: CallNext) -> None:
        started = time.perf_counter()
        labels = self._labels(delivery)
        context = otel_context.get_current() if self._contexts else None
        self.consumed.add(labels)
        env = delivery.envelope
        if env is not None and env.time is not None and delivery.outcome is None:
            age = time.time() - env.time.timestamp()
            self.latency.record(age if age > 0.0 else 0.0, labels, context)
        try:
            await call_next(delivery)
        finally:
            self.settled.add(labels)
            self._settled(delivery, labels, time.perf_counter() - started, context)

    def loop_blocked(self, seconds: float) -> None:
        """A blocked stretch of the worker's loop, ended (``bus.worker.watchdog.LoopObserver``:
        the worker tells every consume middleware that has this method; workers sharing a loop
        tell each distinct object once per stretch, so give them one ``Metrics``)."""
        self._blocked.record(seconds)

    def _in_flight(self, options: otel.CallbackOptions) -> list[otel.Observation]:
        """Deliveries consumed and not settled yet, by ``labels`` (settled read first: never
        below zero while the event loop goes on)."""
        settled = dict(self.settled.counts)
        consumed, attributes = self.consumed.counts, self.consumed.attributes
        return [
            otel.Observation(n - settled.get(k, 0), attributes[k])
            for k, n in list(consumed.items())
        ]

    def _labels(self, delivery: Incoming) -> dict[str, str]:
        env = delivery.envelope
        kind: str | None = None
        if env is not None:
            outcome = delivery.outcome
            known = outcome is None or outcome.reason != "unknown-event"
            kind = env.type if known else UNKNOWN
        key = (delivery.queue, kind)
        labels = self._consume.get(key)
        if labels is None:
            labels = {"messaging.system": "aws_sqs", "messaging.destination.name": delivery.queue}
            if kind is not None:
                labels["bus.event.type"] = kind
            self._consume[key] = labels
        return labels

    def _settled(
        self,
        delivery: Incoming,
        labels: dict[str, str],
        seconds: float,
        context: otel_context.Context | None,
    ) -> None:
        ctx = delivery.context
        if ctx is not None and ctx.try_number > 1:
            self.retried.add(self._with(labels, "in-process", "transient"), ctx.try_number - 1)
        outcome = delivery.outcome
        if outcome is None:  # an exception escaped, or no outcome: bus redelivers it later
            outcome = Outcome("redeliver", reason="no-outcome")
        kind = outcome.kind
        error = outcome.error
        attrs = self._with(labels, kind, outcome.reason, error)
        if kind == "handled" or kind == "duplicate":
            self.handled.add(attrs)
        elif kind == "dead-letter":
            self.dead_lettered.add(attrs)
        elif kind == "redeliver":
            self.retried.add(self._with(labels, "redeliver", outcome.reason))
        self.duration.record(seconds, attrs, context)

    def _with(
        self,
        labels: dict[str, str],
        what: str,
        reason: str | None,
        error: BaseException | None = None,
    ) -> dict[str, str]:
        """``labels`` plus an outcome (or retry kind), reason and error type, cached."""
        error_type = type(error).__name__ if error is not None else None
        key = (id(labels), what, reason, error_type)
        attrs = self._outcomes.get(key)
        if attrs is None:
            name = "bus.retry" if what in ("in-process", "redeliver") else "bus.outcome"
            attrs = {**labels, name: what}
            if reason is not None:
                attrs["bus.reason"] = reason
            if error_type is not None:
                attrs["error.type"] = error_type
            self._outcomes[key] = attrs
        return attrs

    # -- publish ----------------------------------------------------------------------------------

    async def event(self, outgoing: Outgoing, call_next: NextEvent) -> None:
        await call_next(outgoing)

    async def batch(self, batch: OutgoingBatch, call_next: NextBatch) -> None:
        labels = self._channel(batch.channel)
        try:
            await call_next(batch)
        except BaseException as exc:
            self.sent.add(self._failed(labels, type(exc).__name__, False), len(batch.entries))
            raise
        sent = 0
        for outcome in batch.outcomes:
            if outcome.message_id is not None:
                sent += 1
            else:
                self.sent.add(self._failed(labels, outcome.code or "unknown", outcome.retryable))
        if sent:
            self.sent.add(labels, sent)

    def _channel(self, channel: Channel) -> dict[str, str]:
        labels = self._channels.get(channel.label)
        if labels is None:
            labels = {
                "messaging.system": SYSTEMS.get(channel.kind, channel.kind),
                "messaging.destination.name": channel.name,
                "messaging.operation.name": "send",
            }
            self._channels[channel.label] = labels
        return labels

    def _failed(self, labels: dict[str, str], code: str, retryable: bool) -> dict[str, str]:
        key = (id(labels), "failed", code, "retryable" if retryable else None)
        attrs = self._outcomes.get(key)
        if attrs is None:
            attrs = {**labels, "error.type": code}
            if retryable:
                attrs["bus.retryable"] = "true"
            self._outcomes[key] = attrs
        return attrs


OTLP_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")


def otlp_configured(environ: Mapping[str, str]) -> bool:
    """Whether the standard variables ask for OTLP export of metrics."""
    return any(environ.get(name) for name in OTLP_VARIABLES) and (
        environ.get("OTEL_METRICS_EXPORTER", "otlp") != "none"
    )


def meter_provider(
    *readers: MetricReader, service: str | None = None, environ: Mapping[str, str] | None = None
) -> otel.MeterProvider:
    """An SDK meter provider with ``readers`` (a ``PrometheusReader`` ...), plus a periodic OTLP
    (HTTP/protobuf) exporter when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``..._METRICS_ENDPOINT`` is
    set (the exporter reads the other ``OTEL_EXPORTER_OTLP_*`` variables itself; the interval is
    ``OTEL_METRIC_EXPORT_INTERVAL``). ``service``: the ``service.name`` unless
    ``OTEL_SERVICE_NAME`` says otherwise. Exemplars are off when no reader would export them
    (only ``PrometheusReader``s, whose text format has none, and no OTLP) unless
    ``OTEL_METRICS_EXEMPLAR_FILTER`` says otherwise: the SDK's default (``trace_based``) costs
    each histogram record inside a sampled span an exemplar nobody reads."""
    from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
    from opentelemetry.sdk.resources import Resource

    from bus.otel.prometheus import PrometheusReader

    environ = os.environ if environ is None else environ
    all_readers = list(readers)
    if otlp_configured(environ):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        all_readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    named = environ.get("OTEL_SERVICE_NAME") or "service.name=" in environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    resource = Resource.create({"service.name": service} if service and not named else {})
    unread = all(isinstance(r, PrometheusReader) for r in all_readers) and not any(
        "OTEL_METRICS_EXEMPLAR_FILTER" in e for e in (environ, os.environ)
    )
    return MeterProvider(
        metric_readers=all_readers,
        resource=resource,
        exemplar_filter=AlwaysOffExemplarFilter() if unread else None,
    )
