"""The decisions of the SDK's own samplers, made without calling them (for bus.otel.light).

``ParentBased`` (the SDK's default, ``parentbased_always_on``, and every ``parentbased_*`` of
``OTEL_TRACES_SAMPLER``), ``ALWAYS_ON`` / ``ALWAYS_OFF`` and ``TraceIdRatioBased`` decide from the
parent's span context and the trace id alone; their ``SamplingResult`` carries the span's own
attributes (none when dropped) and the parent's trace state (none for a root). Asking one costs a
context lookup per level, a ``SamplingResult`` and a ``MappingProxyType``; ``decide`` gives the
same decision from the same inputs in a few comparisons, and ``None`` for any other sampler (or
one whose class overrides ``should_sample``, or an SDK without the attributes read here:
``ParentBased._root`` and its four delegates, ``StaticSampler._decision``), which is then asked.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    StaticSampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanContext

_PARENT_BASED = ParentBased.should_sample
_STATIC = StaticSampler.should_sample
_RATIO = TraceIdRatioBased.should_sample


def decide(sampler: Sampler, parent: SpanContext | None, trace_id: int) -> Decision | None:
    """What ``sampler`` decides for a span of trace ``trace_id`` whose parent is ``parent`` (a
    valid span context, or None for a root), when it is one of the SDK's own samplers; ``None``
    when it has to be asked. (The parent's fields are read by index: 2 remote, 3 flags, whose
    bit 1 is sampled; bus.otel.sdkparts.SPAN_CONTEXT_LAYOUT checks that layout.)"""
    chosen: Any = sampler
    method = getattr(type(chosen), "should_sample", None)
    if method is _PARENT_BASED:
        if parent is None:
            chosen = getattr(chosen, "_root", None)
        elif parent[2]:
            sampled = parent[3] & 1
            chosen = getattr(
                chosen, "_remote_parent_sampled" if sampled else "_remote_parent_not_sampled", None
            )
        else:
            sampled = parent[3] & 1
            chosen = getattr(
                chosen, "_local_parent_sampled" if sampled else "_local_parent_not_sampled", None
            )
        method = getattr(type(chosen), "should_sample", None)
    if method is _STATIC:
        found = getattr(chosen, "_decision", None)
        return found if type(found) is Decision else None
    if method is _RATIO:
        keep = trace_id & chosen.TRACE_ID_LIMIT < chosen.bound
        return Decision.RECORD_AND_SAMPLE if keep else Decision.DROP
    return None
