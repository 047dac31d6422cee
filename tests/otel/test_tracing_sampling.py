"""bus.otel.sampling decides as the SDK's own samplers do, for every kind of parent, and the light
path's spans made with it (``start`` and ``start_child``) export what the SDK's path exports."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_OFF,
    DEFAULT_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
    StaticSampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.span import TraceState

from bus.otel.light import LightSpan, LightTracer
from bus.otel.sampling import decide, fixed, parent_kind
from bus.otel.traceparent import EMPTY, as_parent
from tests.otel.exported import fields
from tests.otel.test_tracing_light import ATTRIBUTES, provider

STATE = TraceState([("k", "v")])
PARENTS = {
    "root": None,
    "remote sampled": SpanContext(7 << 64 | (1 << 64) - 5, 3, True, TraceFlags(1), STATE),
    "remote not sampled": SpanContext(7 << 64 | 5, 3, True, TraceFlags(0), STATE),
    "local sampled": SpanContext(9, 4, False, TraceFlags(3)),
    "local not sampled": SpanContext(9, 4, False, TraceFlags(2), STATE),
}
SAMPLERS: dict[str, Sampler] = {
    "parentbased_always_on (the default)": DEFAULT_ON,
    "parentbased_always_off": DEFAULT_OFF,
    "always_on": ALWAYS_ON,
    "always_off": ALWAYS_OFF,
    "traceidratio 0.5": TraceIdRatioBased(0.5),
    "parentbased_traceidratio 0.25": ParentBasedTraceIdRatio(0.25),
    "parent-based, delegates swapped": ParentBased(
        ALWAYS_OFF,
        remote_parent_sampled=ALWAYS_OFF,
        remote_parent_not_sampled=ALWAYS_ON,
        local_parent_sampled=TraceIdRatioBased(0.5),
        local_parent_not_sampled=StaticSampler(Decision.RECORD_ONLY),
    ),
}


def context(parent: SpanContext | None) -> Context:
    return EMPTY if parent is None else as_parent(parent)


@pytest.mark.parametrize("parent", list(PARENTS.values()), ids=list(PARENTS))
@pytest.mark.parametrize("sampler", list(SAMPLERS.values()), ids=list(SAMPLERS))
@settings(max_examples=40)
@given(trace_id=st.integers(1, (1 << 128) - 1))
def test_the_decision_is_the_sdk_samplers(
    sampler: Sampler, parent: SpanContext | None, trace_id: int
) -> None:
    trace_id = parent.trace_id if parent is not None else trace_id
    asked = sampler.should_sample(context(parent), trace_id, "x", SpanKind.CONSUMER, ATTRIBUTES)
    assert decide(sampler, parent, trace_id) is asked.decision
    # what the light path keeps instead of the result's attributes and trace state
    kept = {} if asked.decision is Decision.DROP else ATTRIBUTES
    assert dict(asked.attributes) == kept
    assert asked.trace_state == (None if parent is None else parent.trace_state)


@pytest.mark.parametrize("sampler", list(SAMPLERS.values()), ids=list(SAMPLERS))
@settings(max_examples=20)
@given(trace_id=st.integers(1, (1 << 128) - 1))
def test_the_fixed_decisions_are_decides_for_every_kind_of_parent(
    sampler: Sampler, trace_id: int
) -> None:
    found = fixed(sampler)
    deciding = [sampler, *(getattr(sampler, f"_{name}", None) for name in DELEGATES)]
    ratio = any(isinstance(s, TraceIdRatioBased) for s in deciding)
    assert (found is None) is ratio  # a ratio's decision depends on the trace id: decided per span
    if found is not None:
        for parent in PARENTS.values():
            ids = parent.trace_id if parent is not None else trace_id
            assert found[parent_kind(parent)] is decide(sampler, parent, ids)


DELEGATES = (
    "root",
    "remote_parent_sampled",
    "remote_parent_not_sampled",
    "local_parent_sampled",
    "local_parent_not_sampled",
)


def test_the_light_path_decides_again_if_the_tracers_sampler_was_replaced() -> None:
    made, _ = provider(sampler=DEFAULT_ON)
    tracer = made.get_tracer("bus", "1.0")
    light = LightTracer(tracer)
    assert isinstance(light.start_child("x", None, SpanKind.CONSUMER, {}), LightSpan)
    tracer.sampler = ALWAYS_OFF  # type: ignore[attr-defined]  # the SDK never does; bus checks
    dropped = light.start_child("x", None, SpanKind.CONSUMER, {})
    assert type(dropped) is trace.NonRecordingSpan


class Overridden(TraceIdRatioBased):
    """A subclass deciding otherwise: it must be asked."""

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return SamplingResult(Decision.RECORD_ONLY)


class Nested(ParentBased):
    """The SDK's parent-based sampler, its root a parent-based one again: asked."""


def test_any_other_sampler_is_asked() -> None:
    assert decide(Overridden(1.0), None, 1) is None
    assert decide(ParentBased(Overridden(1.0)), None, 1) is None
    assert decide(ParentBased(Nested(ALWAYS_ON)), None, 1) is None
    assert decide(ParentBased(ALWAYS_ON), None, 1) is Decision.RECORD_AND_SAMPLE
    renamed = StaticSampler(Decision.DROP)
    del renamed._decision  # as if a newer SDK renamed it
    assert decide(renamed, None, 1) is None
    assert fixed(renamed) is None
    assert fixed(Overridden(1.0)) is None
    assert fixed(ParentBased(Nested(ALWAYS_ON))) is None
    on, off = Decision.RECORD_AND_SAMPLE, Decision.DROP
    assert fixed(ParentBased(ALWAYS_ON)) == (on, on, off, on, off)


@pytest.mark.parametrize("parent", list(PARENTS.values()), ids=list(PARENTS))
@pytest.mark.parametrize("sampler", list(SAMPLERS.values()), ids=list(SAMPLERS))
def test_light_spans_made_with_each_sampler_export_what_the_sdk_exports(
    sampler: Sampler, parent: SpanContext | None
) -> None:
    exported = []
    made_spans: list[trace.Span] = []
    for way in ("sdk", "start", "start_child"):
        made, exporter = provider(sampler=sampler)
        tracer = made.get_tracer("bus", "1.0")
        light = LightTracer(tracer)
        for n in range(4):  # a few trace ids for the ratio samplers (roots: made by Counting)
            if way == "sdk":
                span = tracer.start_span(
                    "process q", context(parent), SpanKind.CONSUMER, dict(ATTRIBUTES)
                )
            elif way == "start":
                span = light.start("process q", context(parent), SpanKind.CONSUMER, ATTRIBUTES)
            else:
                span = light.start_child("process q", parent, SpanKind.CONSUMER, dict(ATTRIBUTES))
            if way != "sdk":
                made_spans.append(span)
            span.set_attribute("bus.outcome", f"handled {n}")
            span.end()
        exported.append([fields(s) for s in exporter.get_finished_spans()])
    sdk, light_start, light_child = exported
    assert light_start == sdk
    assert light_child == sdk
    # made on the light path (never the SDK's span): recorded ones light, dropped ones the API's
    assert all(type(s) in (LightSpan, trace.NonRecordingSpan) for s in made_spans)


def test_start_child_keeps_its_attributes_dict_and_start_copies_the_callers() -> None:
    made, _ = provider()
    light = LightTracer(made.get_tracer("bus"))
    shared = dict(ATTRIBUTES)
    started = light.start("x", EMPTY, SpanKind.CONSUMER, shared)
    assert isinstance(started, LightSpan)
    started.put("bus.outcome", "handled")
    assert shared == ATTRIBUTES  # a dict shared between spans is not changed by one of them
    own = dict(ATTRIBUTES)
    child = light.start_child("x", None, SpanKind.CONSUMER, own)
    assert isinstance(child, LightSpan)
    assert child._attributes is own
    started.end()
    child.end()
