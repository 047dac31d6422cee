"""The decisions of the SDK's own samplers, made without calling them (for bus.otel.light).

``ParentBased`` (the SDK's default, ``parentbased_always_on``, and every ``parentbased_*`` of
``OTEL_TRACES_SAMPLER``), ``ALWAYS_ON`` / ``ALWAYS_OFF`` and ``TraceIdRatioBased`` decide from the
parent's span context and the trace id alone; their ``SamplingResult`` carries the span's own
attributes (none when dropped) and the parent's trace state (none for a root). Asking one costs a
context lookup per level, a ``SamplingResult`` and a ``MappingProxyType``; ``decide`` gives the
same decision from the same inputs in a few comparisons, and ``None`` for any other sampler (or
one whose class overrides ``should_sample``, or an SDK without the attributes read here:
``ParentBased._root`` and its four delegates, ``StaticSampler._decision``), which is then asked.
``fixed`` gives, once per sampler, ``decide``'s five answers when no trace id can change them
(no ratio anywhere in it: the default's case), so that a span's decision is one index
(``parent_kind``) into them.
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
from opentelemetry.trace import SpanContext, TraceFlags

_PARENT_BASED = ParentBased.should_sample
_STATIC = StaticSampler.should_sample
_RATIO = TraceIdRatioBased.should_sample

Fixed = tuple[Decision, Decision, Decision, Decision, Decision]
"""A sampler's decisions by ``parent_kind``: a root, a remote parent sampled and not, a local
parent sampled and not."""
_KINDS: tuple[SpanContext | None, ...] = (
    None,
    SpanContext(1, 1, True, TraceFlags(1)),
    SpanContext(1, 1, True, TraceFlags(0)),
    SpanContext(1, 1, False, TraceFlags(1)),
    SpanContext(1, 1, False, TraceFlags(0)),
)
"""A parent of each kind, in ``Fixed``'s order."""


def parent_kind(parent: SpanContext | None) -> int:
    """The index of ``parent``'s kind in ``Fixed`` (a valid span context, or None for a root;
    read by index: 2 remote, 3 flags)."""
    if parent is None:
        return 0
    return (1 if parent[2] else 3) + (0 if parent[3] & 1 else 1)


def _deciding(sampler: Sampler, parent: SpanContext | None) -> Any:
    """The sampler whose decision it is: a ``ParentBased``'s delegate for ``parent``'s kind
    (None when it has no such attribute), any other sampler itself."""
    if getattr(type(sampler), "should_sample", None) is not _PARENT_BASED:
        return sampler
    if parent is None:
        return getattr(sampler, "_root", None)
    sampled = parent[3] & 1
    if parent[2]:
        return getattr(
            sampler, "_remote_parent_sampled" if sampled else "_remote_parent_not_sampled", None
        )
    return getattr(
        sampler, "_local_parent_sampled" if sampled else "_local_parent_not_sampled", None
    )


def decide(sampler: Sampler, parent: SpanContext | None, trace_id: int) -> Decision | None:
    """What ``sampler`` decides for a span of trace ``trace_id`` whose parent is ``parent`` (a
    valid span context, or None for a root), when it is one of the SDK's own samplers; ``None``
    when it has to be asked. (The parent's fields are read by index: 2 remote, 3 flags, whose
    bit 1 is sampled; bus.otel.sdkparts.SPAN_CONTEXT_LAYOUT checks that layout.)"""
    chosen = _deciding(sampler, parent)
    method = getattr(type(chosen), "should_sample", None)
    if method is _STATIC:
        found = getattr(chosen, "_decision", None)
        return found if type(found) is Decision else None
    if method is _RATIO:
        keep = trace_id & chosen.TRACE_ID_LIMIT < chosen.bound
        return Decision.RECORD_AND_SAMPLE if keep else Decision.DROP
    return None


def fixed(sampler: Sampler) -> Fixed | None:
    """``decide``'s answers for each kind of parent (``parent_kind``) when each comes from a
    ``StaticSampler`` (``ALWAYS_ON``, ``ALWAYS_OFF``, a ``ParentBased`` over such: no trace id
    changes them); None when one depends on the trace id or the sampler must be asked."""
    decisions = []
    for parent in _KINDS:
        chosen = _deciding(sampler, parent)
        found = getattr(chosen, "_decision", None)
        if (
            getattr(type(chosen), "should_sample", None) is not _STATIC
            or type(found) is not Decision
        ):
            return None
        decisions.append(found)
    return (decisions[0], decisions[1], decisions[2], decisions[3], decisions[4])
