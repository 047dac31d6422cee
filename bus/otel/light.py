"""A lighter recorder of bus's own spans: the same exported spans as the SDK's, for less CPU.

The SDK's ``Tracer.start_span`` builds a ``Span`` that is ready for anything: its attributes in a
``BoundedAttributes`` cleaning every value under a lock, a ``Lock`` of its own, ``BoundedList``\\ s
for events and links, ``on_start`` called on every processor; ``end`` takes the lock again, calls
``_on_ending`` and then copies it all into a ``ReadableSpan`` for ``on_end``. bus's own spans carry
a few clean ``str``/``int`` attributes and, most of the time, no event: ``LightTracer`` asks the
provider's sampler and id generator exactly as ``start_span`` does (the SDK's own samplers'
decisions made without calling them, looked up by the kind of parent when no trace id changes them:
bus.otel.sampling), keeps the span in a ``LightSpan`` (bus.otel.lightspan: a plain dict of
attributes; the SDK's ``BoundedAttributes`` / ``BoundedList`` made only when something else is
added), and at ``end`` hands the processors the ``ReadableSpan`` the SDK would have built, as
``on_end`` would (bus.otel.sdkparts). It does so only when that changes nothing a processor can
see: the provider is the SDK's, every processor's ``on_start`` and ``_on_ending`` are the SDK's
no-ops (``BatchSpanProcessor``, ``SimpleSpanProcessor``, the multi-processors over such), and the
SDK's private attributes it reads are there (``Tracer``: ``sampler``, ``id_generator``,
``resource``, ``span_processor``, ``instrumentation_info``, ``_instrumentation_scope``,
``_span_limits``, ``_tracer_metrics``, ``_is_enabled``; the multi-processors' ``_span_processors``;
the API's ``ProxyTracer._tracer``; the helpers it reuses: ``_is_valid_link``, ``Span._new_links``,
``Span.record_exception``, ``BoundedAttributes._set_items``; ``SpanContext``'s tuple layout).
Otherwise ``start`` is ``Tracer.start_span``, unchanged. docs/observability.md ("How spans are
made") says the same.

``start_child`` is ``start`` for a parent given as a span context (the one a consumed message's
``traceparent`` names): no ``Context`` is built for it unless a sampler must be asked, and the
attributes dict given is the span's own (bus's clean values, not copied).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.span import DEFAULT_TRACE_STATE

from bus.otel.lightspan import LightSpan
from bus.otel.sampling import decide, parent_kind
from bus.otel.sdkparts import (
    MAX_SPAN_ID,
    MAX_TRACE_ID,
    SPAN_CONTEXT_LAYOUT,
    Usable,
    quiet,
    usable,
)
from bus.otel.traceparent import EMPTY, as_parent

__all__ = ["LightSpan", "LightTracer"]

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
_RECORD_AND_SAMPLE, _RECORD_ONLY = Decision.RECORD_AND_SAMPLE, Decision.RECORD_ONLY
_FLAGS = tuple(TraceFlags(n) for n in range(4))
"""The trace flags by their bits: sampled (1), random trace id (2)."""
_new = tuple.__new__
_UNBUILT = object()
"""``start_child``'s context: not made unless a sampler must be given it."""
_SDK_HELPERS = (
    hasattr(sdk_trace, "_is_valid_link")
    and hasattr(sdk_trace.Span, "_new_links")
    and hasattr(sdk_trace.Span, "record_exception")
    and hasattr(BoundedAttributes, "_set_items")
    and SPAN_CONTEXT_LAYOUT
)
"""Whether the SDK's helpers a light span reuses are there (else: the SDK's path)."""


class LightTracer:
    """``start`` makes a ``LightSpan`` when that is safe (see the module), else asks ``tracer``
    (always when not ``enabled``)."""

    def __init__(self, tracer: trace.Tracer, *, enabled: bool = True) -> None:
        self._tracer = tracer
        self.enabled = enabled
        self._checked: Usable | None = None
        """The SDK tracer last found usable, with its processors then."""

    def sdk(self) -> sdk_trace.Tracer | None:
        """The SDK tracer the light path may stand in for, or None (then: the SDK's path)."""
        found = self.usable()
        return None if found is None else found.tracer

    def usable(self) -> Usable | None:
        """The SDK tracer the light path may stand in for, as checked (again whenever its
        processors changed), or None (then: the SDK's path)."""
        checked = self._checked
        if checked is not None:
            processor = checked.tracer.span_processor
            if (
                processor is checked.processor
                and getattr(processor, "_span_processors", None) is checked.processors
            ):
                return checked
        return self._check()

    def _check(self) -> Usable | None:
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
        self._checked = usable(tracer)
        return self._checked

    def start(
        self,
        name: str,
        context: otel_context.Context | None,
        kind: SpanKind,
        attributes: Mapping[str, Any],
        links: Sequence[Link] = (),
    ) -> trace.Span:
        """What ``Tracer.start_span(name, context, kind, attributes, links)`` gives, lighter."""
        found = self.usable()
        links = links or ()
        if found is None:
            return self._tracer.start_span(
                name, context=context, kind=kind, attributes=attributes, links=links
            )
        parent: SpanContext | None = trace.get_current_span(context).get_span_context()
        if not found.tracer._is_enabled():
            return trace.NonRecordingSpan(context=parent)  # type: ignore[arg-type]  # as the SDK
        return self._made(found, name, context, parent, kind, attributes, links, False)

    def start_child(
        self, name: str, parent: SpanContext | None, kind: SpanKind, attributes: dict[str, Any]
    ) -> trace.Span:
        """``start(name, context, kind, attributes)`` with the context given by its span's
        context ``parent`` (a remote parent read from a message; None: a root), built only for a
        sampler that must be asked, and ``attributes`` bus's own clean ``str``/``int`` values in a
        dict of its own, which the span keeps (not copied)."""
        found = self._checked  # usable(), without a call: the same check
        if found is not None:
            processor = found.tracer.span_processor
            if (
                processor is not found.processor
                or getattr(processor, "_span_processors", None) is not found.processors
            ):
                found = self._check()
        else:
            found = self._check()
        if found is None:
            context = EMPTY if parent is None else as_parent(parent)
            return self._tracer.start_span(name, context=context, kind=kind, attributes=attributes)
        if not found.tracer._is_enabled():
            return trace.NonRecordingSpan(context=parent)  # type: ignore[arg-type]  # as the SDK
        return self._made(found, name, _UNBUILT, parent, kind, attributes, (), True)

    def _made(
        self,
        found: Usable,
        name: str,
        context: object,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: Mapping[str, Any],
        links: Sequence[Link],
        owned: bool,
    ) -> trace.Span:
        """The span ``start_span`` makes, from the parent's span context (``context``: the
        context it came from, ``_UNBUILT`` when only ``parent`` was given; ``owned``: the
        attributes dict is the span's own). Arguments are positional and the decisions module
        constants: a keyword argument to a class, or an enum member looked up on its class,
        costs a dict and a hook per span. A span context's
        fields are read by index, and the span's made as ``SpanContext`` makes it, by
        ``tuple.__new__`` (``sdkparts.SPAN_CONTEXT_LAYOUT``): trace id 0, flags 3, trace state 4,
        valid 5."""
        sdk = found.tracer
        if parent is None or not parent[5]:
            parent = None
            trace_id = sdk.id_generator.generate_trace_id()
            random_id = sdk.id_generator.is_trace_id_random()
        else:
            trace_id = parent[0]
            random_id = parent[3] & 2 != 0
        sampler = sdk.sampler
        fixed = found.decisions
        if fixed is not None and sampler is found.sampler:
            decision: Decision | None = fixed[parent_kind(parent)]
        else:
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
            trace_state = None if parent is None else parent[4]
            kept = attributes if owned and type(attributes) is dict else dict(attributes)
        sampled_flag = decision is _RECORD_AND_SAMPLE
        flags = _FLAGS[(1 if sampled_flag else 0) | (2 if random_id else 0)]
        span_id = sdk.id_generator.generate_span_id()
        valid = 0 < trace_id <= MAX_TRACE_ID and 0 < span_id <= MAX_SPAN_ID
        state = DEFAULT_TRACE_STATE if trace_state is None else trace_state
        span_context = _new(SpanContext, (trace_id, span_id, False, flags, state, valid))
        ended = sdk._tracer_metrics.start_span(parent, decision) if found.metrics else None
        if decision is not _RECORD_ONLY and not sampled_flag:
            return trace.NonRecordingSpan(context=span_context)
        span = LightSpan(found, name, span_context, parent, kind, kept, ended, clean)
        if links:
            span._links = sdk_trace.Span._new_links(cast(sdk_trace.Span, span), links)
        return span
