"""The parts of the OpenTelemetry SDK that bus.otel.light stands in for, and when it may.

``quiet(processor)``: whether skipping the processor's ``on_start`` and ``_on_ending`` changes
nothing (the SDK's own processors, and its multi-processors over such, do nothing there).

``readable(fields)``: the SDK's ``ReadableSpan`` of ``fields`` (its constructor's arguments, each
under the name of the attribute it stores it in, ``_name``, ``_context``, ...), the object an
exporter receives from ``on_end``. Its constructor only stores its thirteen arguments (and makes
an empty ``Resource`` when given none: a light span always gives one); ``readable`` makes the same
object by giving a new ``ReadableSpan`` that dict of fields as its ``__dict__``, at half the cost.
It does so only if a ``ReadableSpan`` made by its constructor holds exactly those fields under
those names (checked once, on import, with a distinct value per argument); otherwise it calls the
constructor. A light span keeps exactly those fields in its own ``__dict__`` (its other state in
slots), so the dict it hands over is the one it has: nothing is built or copied at its end.

``endings(processor)``: the calls ``processor.on_end(span)`` comes down to (the provider's
multi-processor unrolled; a ``BatchSpanProcessor``'s batch queue given a sampled span directly),
kept in ``Usable`` with the tracer they were found for and what each span reads of that tracer
(its resource, limits, instrumentation scope, and its sampler's decisions when no trace id changes
them: bus.otel.sampling.fixed); a light span's ``end`` makes them, or calls ``on_end`` itself when
the processors changed since.

``SPAN_CONTEXT_LAYOUT``: whether a ``SpanContext`` is the tuple its type declares (trace id, span
id, remote, flags, trace state, valid), so that its fields can be read by index and one made by
``tuple.__new__`` as its constructor would (checked on import; else the light path is not used).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import (
    ConcurrentMultiSpanProcessor,
    ReadableSpan,
    SpanLimits,
    SpanProcessor,
    SynchronousMultiSpanProcessor,
)
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import SpanContext, TraceFlags
from opentelemetry.trace.span import DEFAULT_TRACE_STATE, TraceState

from bus.otel.sampling import Fixed, fixed

try:
    from opentelemetry.sdk.trace._tracer_metrics import NoOpTracerMetrics as _NO_METRICS
except ImportError:  # an SDK without them: always told

    class _NO_METRICS:  # type: ignore[no-redef]
        """Matches no tracer metrics."""


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


ARGUMENTS = (
    "name",
    "context",
    "parent",
    "resource",
    "attributes",
    "events",
    "links",
    "kind",
    "instrumentation_info",
    "status",
    "start_time",
    "end_time",
    "instrumentation_scope",
)
"""``ReadableSpan``'s arguments; ``readable`` takes each as ``_<argument>``."""


def _stores_its_arguments() -> bool:
    """Whether ``ReadableSpan(**arguments)`` is a ``ReadableSpan`` whose ``__dict__`` is exactly
    ``{"_<argument>": value}`` (and can be given one)."""
    given: dict[str, Any] = {name: object() for name in ARGUMENTS}
    try:
        made = ReadableSpan(**given)
        expected = {f"_{name}": value for name, value in given.items()}
        if vars(made) != expected:
            return False
        copy = ReadableSpan.__new__(ReadableSpan)
        copy.__dict__ = dict(expected)
        return vars(copy) == expected
    except Exception:  # a changed constructor: use it as it is
        return False


FIELDS = _stores_its_arguments()
"""Whether ``readable`` may give the fields as the span's ``__dict__``."""
NAMES = tuple(f"_{name}" for name in ARGUMENTS)
"""The fields' names, as ``readable`` takes them."""
_new = ReadableSpan.__new__


def readable(fields: dict[str, Any]) -> ReadableSpan:
    """``ReadableSpan(name=fields["_name"], context=fields["_context"], ...)``; ``fields`` may be
    given as they are (a light span's own ``__dict__``: nothing changes it once it ended), and
    only its ``NAMES`` are read."""
    if len(fields) != len(NAMES):  # another field was set on the light span: not the SDK's
        fields = {name: fields[name] for name in NAMES}
    if FIELDS:
        made = _new(ReadableSpan)
        made.__dict__ = fields
        return made
    return ReadableSpan(**{name[1:]: value for name, value in fields.items()})


Ending = Callable[[ReadableSpan], object]


def endings(processor: object) -> tuple[tuple[Ending, ...], tuple[Ending, ...]]:
    """What ``processor.on_end(span)`` comes down to, for a sampled span and for a recorded,
    unsampled one: a ``SynchronousMultiSpanProcessor`` (the provider's own) calls each of its
    processors' ``on_end`` in turn; a ``BatchSpanProcessor``'s ``on_end`` hands a sampled span to
    its batch processor's ``emit`` and drops an unsampled one; any other processor's own
    ``on_end`` (a nested multi-processor's too: it may gain processors) is called for both."""
    if type(processor) is SynchronousMultiSpanProcessor:
        inner = getattr(processor, "_span_processors", ())
        parts = [_ending(p) for p in inner]
        return tuple(e for p in parts for e in p[0]), tuple(e for p in parts for e in p[1])
    return _ending(processor)


def _emits_only() -> bool:
    """Whether ``BatchSpanProcessor.on_end`` reads nothing but the span's sampled flag and hands
    the span to its batch processor's ``emit`` (its body in SDK 1.45, checked by the names it
    uses): if another SDK makes it do more, its own ``on_end`` is called."""
    code = getattr(getattr(BatchSpanProcessor, "on_end", None), "__code__", None)
    names = ("context", "trace_flags", "sampled", "_batch_processor", "emit")
    return code is not None and code.co_names == names


EMITS_ONLY = _emits_only()


def _ending(processor: Any) -> tuple[tuple[Ending, ...], tuple[Ending, ...]]:
    if EMITS_ONLY and type(processor) is BatchSpanProcessor:
        emit = getattr(getattr(processor, "_batch_processor", None), "emit", None)
        if callable(emit):
            return (emit,), ()
    return (processor.on_end,), (processor.on_end,)


@dataclass(frozen=True, slots=True, eq=False)
class Usable:
    """An SDK tracer the light path stands in for, as found when it was checked, with what each
    span reads of it (read once: the SDK sets them when it makes the tracer, never after)."""

    tracer: sdk_trace.Tracer
    processor: object
    """``tracer.span_processor`` then."""
    processors: object
    """Its ``_span_processors`` tuple then (the SDK replaces it when a processor is added)."""
    sampled: tuple[Ending, ...]
    """What its ``on_end`` calls for a sampled span (``endings``)."""
    unsampled: tuple[Ending, ...]
    """And for a recorded, unsampled one."""
    metrics: bool
    """Whether the tracer's internal span metrics are on (off: nothing to tell them)."""
    sampler: object
    """``tracer.sampler`` then."""
    decisions: Fixed | None
    """Its decisions by kind of parent when no trace id changes them (bus.otel.sampling.fixed),
    else None (``decide`` per span)."""
    resource: Resource
    """``tracer.resource``: a span's, as the SDK's span takes it when it starts."""
    limits: SpanLimits
    """``tracer._span_limits``."""
    most: float
    """How many of bus's clean attributes a span keeps in a plain dict: the span limit (none:
    ``inf``), or -1 when values are limited in length (then every value is cleaned, in the
    SDK's ``BoundedAttributes`` from the start)."""
    info: object
    """``tracer.instrumentation_info``."""
    scope: object
    """``tracer._instrumentation_scope``."""


def usable(tracer: sdk_trace.Tracer) -> Usable:
    """``tracer`` with its processors now (the tracer already checked: bus.otel.light)."""
    processor = tracer.span_processor
    sampled, unsampled = endings(processor)
    limits = tracer._span_limits
    if limits.max_span_attribute_length is not None:
        most: float = -1
    elif limits.max_span_attributes is None:
        most = math.inf
    else:
        most = limits.max_span_attributes
    return Usable(
        tracer,
        processor,
        getattr(processor, "_span_processors", None),
        sampled,
        unsampled,
        type(tracer._tracer_metrics) is not _NO_METRICS,
        tracer.sampler,
        fixed(tracer.sampler),
        tracer.resource,
        limits,
        most,
        tracer.instrumentation_info,
        tracer._instrumentation_scope,
    )


def _span_context_layout() -> bool:
    """Whether a ``SpanContext`` is the tuple its type says: trace id, span id, remote, flags,
    trace state, valid, with ``DEFAULT_TRACE_STATE`` for none (bus.otel.light and
    bus.otel.traceparent read its fields by index and make one with ``tuple.__new__``: no
    property or constructor call each)."""
    state = TraceState([("k", "v")])
    for made in (
        SpanContext(1, 2, True, TraceFlags(3), state),
        SpanContext(0, 2, False, TraceFlags(0)),
        SpanContext(1 << 128, 2, False, TraceFlags(1)),
    ):
        fields = (
            made.trace_id,
            made.span_id,
            made.is_remote,
            made.trace_flags,
            made.trace_state,
            made.is_valid,
        )
        direct = tuple.__new__(SpanContext, fields)
        if tuple(made) != fields or len(made) != len(fields) or direct.is_valid != made.is_valid:
            return False
    return SpanContext(1, 2, False).trace_state is DEFAULT_TRACE_STATE


SPAN_CONTEXT_LAYOUT = _span_context_layout()
MAX_TRACE_ID = (1 << 128) - 1
MAX_SPAN_ID = (1 << 64) - 1
