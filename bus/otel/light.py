"""A lighter recorder of bus's own spans: the same exported spans as the SDK's, for less CPU.

The SDK's ``Tracer.start_span`` builds a ``Span`` that is ready for anything: its attributes in a
``BoundedAttributes`` cleaning every value under a lock, a ``Lock`` of its own, ``BoundedList``\\ s
for events and links, ``on_start`` called on every processor; ``end`` takes the lock again, calls
``_on_ending`` and then copies it all into a ``ReadableSpan`` for ``on_end``. bus's own spans
carry a few clean ``str``/``int`` attributes and, most of the time, no event: ``LightTracer`` asks
the provider's sampler and id generator exactly as ``start_span`` does, keeps the span in a
``LightSpan`` (a plain dict of attributes; the SDK's ``BoundedAttributes`` / ``BoundedList`` made
only when something else is added), and at ``end`` hands the processors' ``on_end`` the
``ReadableSpan`` the SDK would have built. It does so only when that changes nothing a processor
can see: the provider is the SDK's, every processor's ``on_start`` and ``_on_ending`` are the SDK's
no-ops (``BatchSpanProcessor``, ``SimpleSpanProcessor``, the multi-processors over such), and the
SDK's private attributes it reads are there (``Tracer``: ``sampler``, ``id_generator``,
``resource``, ``span_processor``, ``instrumentation_info``, ``_instrumentation_scope``,
``_span_limits``, ``_tracer_metrics``, ``_is_enabled``; the multi-processors' ``_span_processors``;
the API's ``ProxyTracer._tracer``; the helpers it reuses: ``_is_valid_link``, ``Span._new_links``,
``Span.record_exception``, ``BoundedAttributes._set_items``). Otherwise ``start`` is
``Tracer.start_span``, unchanged. docs/observability.md ("How spans are made") says the same.

A ``LightSpan`` takes no lock: it is made, changed and ended by the task handling one message or
event. User code that changes the current span from several threads at once is not serialised
as on the SDK's span (its values are, as there, cleaned and bounded).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from time import time_ns
from types import TracebackType
from typing import Any, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.trace import (
    ConcurrentMultiSpanProcessor,
    Event,
    ReadableSpan,
    SpanLimits,
    SpanProcessor,
    SynchronousMultiSpanProcessor,
)
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

from bus.otel.sampling import decide
from bus.otel.traceparent import EMPTY, as_parent

logger = logging.getLogger(sdk_trace.__name__)
"""The SDK's own logger: the same warnings, under the same name, as its ``Span``."""

_SDK_PROCESSORS = (SpanProcessor, SimpleSpanProcessor, BatchSpanProcessor)
_MULTI = (SynchronousMultiSpanProcessor, ConcurrentMultiSpanProcessor)
_QUIET: dict[str, set[object]] = {
    hook: {getattr(p, hook) for p in _SDK_PROCESSORS} for hook in ("on_start", "_on_ending")
}
"""The SDK's processors' ``on_start`` and ``_on_ending``: they do nothing."""
_MULTI_HOOKS: dict[str, set[object]] = {
    hook: {getattr(m, hook) for m in _MULTI} for hook in ("on_start", "_on_ending")
}
"""The multi-processors' own hooks: they only pass the call on."""
_TRACER_PARTS = (
    "sampler",
    "id_generator",
    "resource",
    "span_processor",
    "instrumentation_info",
    "_instrumentation_scope",
    "_span_limits",
    "_tracer_metrics",
    "_is_enabled",
)
_UNSET = Status(StatusCode.UNSET)
_FLAGS = tuple(TraceFlags(n) for n in range(4))
"""The trace flags by their bits: sampled (1), random trace id (2)."""
_UNBUILT = object()
"""``start_child``'s context: not made unless a sampler must be given it."""
_SDK_HELPERS = (
    hasattr(sdk_trace, "_is_valid_link")
    and hasattr(sdk_trace.Span, "_new_links")
    and hasattr(sdk_trace.Span, "record_exception")
    and hasattr(BoundedAttributes, "_set_items")
)
"""Whether the SDK's helpers a light span reuses are there (else: the SDK's path)."""


_ATOMIC = frozenset((str, int, float, bool))


def _clean(attributes: Mapping[str, Any]) -> bool:
    """Whether the SDK's cleaning would keep ``attributes`` as they are (non-empty ``str`` keys,
    values of the atomic types it stores unchanged when no length limit is set)."""
    for key, value in attributes.items():
        if type(value) not in _ATOMIC or type(key) is not str or not key:
            return False
    return True


def quiet(processor: object) -> bool:
    """Whether skipping ``processor``'s ``on_start`` and ``_on_ending`` changes nothing."""
    kind = type(processor)
    if isinstance(processor, _MULTI):
        inner = getattr(processor, "_span_processors", None)
        return (
            getattr(kind, "on_start", None) in _MULTI_HOOKS["on_start"]
            and getattr(kind, "_on_ending", None) in _MULTI_HOOKS["_on_ending"]
            and isinstance(inner, tuple)
            and all(quiet(p) for p in inner)
        )
    return (
        getattr(kind, "on_start", None) in _QUIET["on_start"]
        and getattr(kind, "_on_ending", None) in _QUIET["_on_ending"]
    )


class LightTracer:
    """``start`` makes a ``LightSpan`` when that is safe (see the module), else asks ``tracer``
    (always when not ``enabled``)."""

    def __init__(self, tracer: trace.Tracer, *, enabled: bool = True) -> None:
        self._tracer = tracer
        self.enabled = enabled
        self._checked: tuple[sdk_trace.Tracer, object] | None = None
        """The SDK tracer last found usable and its processors then (their tuple, replaced by
        the SDK when a processor is added)."""

    def sdk(self) -> sdk_trace.Tracer | None:
        """The SDK tracer the light path may stand in for, or None (then: the SDK's path)."""
        checked = self._checked
        if checked is not None:
            tracer = checked[0]
            if getattr(tracer.span_processor, "_span_processors", None) is checked[1]:
                return tracer
        return self._check()

    def _check(self) -> sdk_trace.Tracer | None:
        self._checked = None
        if not (self.enabled and _SDK_HELPERS):
            return None
        tracer: object = self._tracer
        if isinstance(tracer, trace.ProxyTracer):
            tracer = getattr(tracer, "_tracer", None)  # resolved once a provider is set
        if not isinstance(tracer, sdk_trace.Tracer):
            return None
        if not all(hasattr(tracer, part) for part in _TRACER_PARTS):
            return None
        processor = tracer.span_processor
        if not quiet(processor):
            return None
        self._checked = (tracer, getattr(processor, "_span_processors", None))
        return tracer

    def start(
        self,
        name: str,
        context: otel_context.Context | None,
        kind: SpanKind,
        attributes: Mapping[str, Any],
        links: Sequence[Link] = (),
    ) -> trace.Span:
        """What ``Tracer.start_span(name, context, kind, attributes, links)`` gives, lighter."""
        sdk = self.sdk()
        links = links or ()
        if sdk is None:
            return self._tracer.start_span(
                name, context=context, kind=kind, attributes=attributes, links=links
            )
        parent: SpanContext | None = trace.get_current_span(context).get_span_context()
        if not sdk._is_enabled():
            return trace.NonRecordingSpan(context=parent)  # type: ignore[arg-type]  # as the SDK
        return self._made(sdk, name, context, parent, kind, attributes, links, owned=False)

    def start_child(
        self, name: str, parent: SpanContext | None, kind: SpanKind, attributes: dict[str, Any]
    ) -> trace.Span:
        """``start(name, context, kind, attributes)`` with the context given by its span's
        context ``parent`` (a remote parent read from a message; None: a root), built only for a
        sampler that must be asked, and ``attributes`` bus's own clean ``str``/``int`` values in a
        dict of its own, which the span keeps (not copied)."""
        sdk = self.sdk()
        if sdk is None:
            context = EMPTY if parent is None else as_parent(parent)
            return self._tracer.start_span(name, context=context, kind=kind, attributes=attributes)
        if not sdk._is_enabled():
            return trace.NonRecordingSpan(context=parent)  # type: ignore[arg-type]  # as the SDK
        return self._made(sdk, name, _UNBUILT, parent, kind, attributes, (), owned=True)

    def _made(
        self,
        sdk: sdk_trace.Tracer,
        name: str,
        context: object,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: Mapping[str, Any],
        links: Sequence[Link],
        *,
        owned: bool,
    ) -> trace.Span:
        """The span ``start_span`` makes, from the parent's span context (``context``: the
        context it came from, ``_UNBUILT`` when only ``parent`` was given)."""
        if parent is None or not parent.is_valid:
            parent = None
            trace_id = sdk.id_generator.generate_trace_id()
            random_id = sdk.id_generator.is_trace_id_random()
        else:
            trace_id = parent.trace_id
            random_id = parent.trace_flags.random_trace_id
        sampler = sdk.sampler
        decision = decide(sampler, parent, trace_id)
        clean = owned
        if decision is None:  # not one of the SDK's samplers: ask it, as start_span does
            if context is _UNBUILT:
                context = EMPTY if parent is None else as_parent(parent)
            sampled = sampler.should_sample(
                cast(otel_context.Context | None, context), trace_id, name, kind, attributes, links
            )
            decision = sampled.decision
            trace_state = sampled.trace_state
            kept: dict[str, Any] = dict(sampled.attributes)
            clean = False
        else:  # the SDK's samplers keep the attributes and the parent's trace state
            trace_state = None if parent is None else parent.trace_state
            kept = attributes if owned and type(attributes) is dict else dict(attributes)
        sampled_flag = decision is Decision.RECORD_AND_SAMPLE
        flags = _FLAGS[(1 if sampled_flag else 0) | (2 if random_id else 0)]
        span_context = SpanContext(
            trace_id,
            sdk.id_generator.generate_span_id(),
            is_remote=False,
            trace_flags=flags,
            trace_state=trace_state,
        )
        ended = sdk._tracer_metrics.start_span(parent, decision)
        if decision is not Decision.RECORD_ONLY and not sampled_flag:
            return trace.NonRecordingSpan(context=span_context)
        span = LightSpan(sdk, name, span_context, parent, kind, kept, ended, clean=clean)
        if links:
            span._links = sdk_trace.Span._new_links(cast(sdk_trace.Span, span), links)
        return span


class LightSpan(trace.Span):
    """A recording span of bus's own: what the SDK's ``Span`` records, kept more simply until
    something beyond bus's clean attributes is added (then in the SDK's own bounded types)."""

    def __init__(
        self,
        tracer: sdk_trace.Tracer,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
        ended: Any,
        *,
        clean: bool = False,
    ) -> None:
        self._tracer = tracer
        self._resource = tracer.resource  # as the SDK's span: the resource when it started
        self._limits: SpanLimits = tracer._span_limits
        self._name = name
        self._context = context
        self._parent = parent
        self._kind = kind
        self._attributes: dict[str, Any] | BoundedAttributes = attributes
        limits = self._limits
        if (
            limits.max_span_attribute_length is not None
            or (
                limits.max_span_attributes is not None
                and len(attributes) > limits.max_span_attributes
            )
            or not (clean or _clean(attributes))  # a sampler may add any value: the SDK cleans
        ):
            self._bounded()
        self._events: BoundedList[Any] | None = None
        self._links: BoundedList[Any] | None = None
        self._status = _UNSET
        self._end_time: int | None = None
        self._record_end_metrics = ended
        self._start_time = time_ns()

    def _bounded(self) -> BoundedAttributes:
        """The attributes as the SDK keeps them (made on the first value bus did not clean)."""
        found = self._attributes
        if isinstance(found, BoundedAttributes):
            return found
        limits = self._limits
        bounded = self._attributes = BoundedAttributes(
            limits.max_span_attributes,
            found,
            immutable=False,
            max_value_len=limits.max_span_attribute_length,
        )
        return bounded

    def put(self, key: str, value: str | int) -> None:
        """bus's own clean attribute (no cleaning needed while no limit can bite)."""
        found = self._attributes
        most = self._limits.max_span_attributes
        if (
            self._end_time is None
            and type(found) is dict
            and (most is None or len(found) < most or key in found)
        ):
            found[key] = value
        else:
            self.set_attribute(key, value)

    def put_all(self, attributes: Mapping[str, str | int]) -> None:
        """bus's own clean attributes, as ``put``."""
        for key, value in attributes.items():
            self.put(key, value)

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self._end_time is None

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self._end_time is not None:
            logger.warning("Setting attribute on ended span.")
            return
        self._bounded()[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if self._end_time is not None:
            logger.warning("Setting attribute on ended span.")
            return
        self._bounded()._set_items(attributes)

    def _ended(self, what: str) -> bool:
        if self._end_time is not None:
            logger.warning("Tried calling %s on an ended span.", what)
            return True
        return False

    def add_event(
        self, name: str, attributes: types.Attributes = None, timestamp: int | None = None
    ) -> None:
        limits = self._limits
        bounded = BoundedAttributes(
            limits.max_event_attributes,
            attributes,
            max_value_len=limits.max_attribute_length,
            immutable=True,
        )
        event = Event(name=name, attributes=bounded, timestamp=timestamp)
        if self._ended("_add_event"):
            return
        if self._events is None:
            self._events = BoundedList(limits.max_events)
        self._events.append(event)

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if not sdk_trace._is_valid_link(context, attributes):
            return
        limits = self._limits
        bounded = BoundedAttributes(
            limits.max_link_attributes,
            attributes,
            max_value_len=limits.max_attribute_length,
            immutable=True,
        )
        if self._ended("_add_link"):
            return
        if self._links is None:
            self._links = BoundedList(limits.max_links)
        self._links.append(Link(context=context, attributes=bounded))

    def update_name(self, name: str) -> None:
        if not self._ended("update_name"):
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._ended("set_status"):
            return
        if self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is StatusCode.UNSET:
                return
            if description is not None:
                logger.warning(
                    "Description %s ignored. Use either `Status` or `(StatusCode, Description)`",
                    description,
                )
            self._status = status
        elif status is not StatusCode.UNSET:
            self._status = Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """The SDK's own (it ends in ``add_event``)."""
        sdk_trace.Span.record_exception(
            cast(sdk_trace.Span, self), exception, attributes, timestamp, escaped
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        """As the SDK's span used as a context manager: the error recorded, then ``end``."""
        if exc_val is not None and self.is_recording():
            self.record_exception(exception=exc_val, escaped=True)
            self.set_status(Status(StatusCode.ERROR, f"{type(exc_val).__name__}: {exc_val}"))
        self.end()

    def end(self, end_time: int | None = None) -> None:
        if self._end_time is not None:
            logger.warning("Calling end() on an ended span.")
            return
        self._end_time = end_time if end_time is not None else time_ns()
        attributes = self._attributes
        if isinstance(attributes, BoundedAttributes):
            attributes._immutable = True
        self._record_end_metrics()
        tracer = self._tracer
        tracer.span_processor.on_end(
            ReadableSpan(
                name=self._name,
                context=self._context,
                parent=self._parent,
                resource=self._resource,
                attributes=attributes,
                events=() if self._events is None else self._events,
                links=() if self._links is None else self._links,
                kind=self._kind,
                status=self._status,
                start_time=self._start_time,
                end_time=self._end_time,
                instrumentation_info=tracer.instrumentation_info,
                instrumentation_scope=tracer._instrumentation_scope,
            )
        )

    def __repr__(self) -> str:
        return f'{type(self).__name__}(name="{self._name}", context={self._context})'
