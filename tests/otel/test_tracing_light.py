"""The light path (bus.otel.light) against the SDK's: the same calls on a span made each way, with
the same ids (a counting id generator per provider), export the same spans field by field; the
sampler decides with the same inputs; the span is current through the API; and the SDK path is
used whenever a processor, the provider or the SDK's internals do not allow the light one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import (
    ConcurrentMultiSpanProcessor,
    ReadableSpan,
    SpanLimits,
    SpanProcessor,
    TracerProvider,
)
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from bus.otel.light import LightSpan, LightTracer
from tests.otel.exported import fields

ATTRIBUTES: dict[str, Any] = {
    "messaging.system": "aws_sqs",
    "messaging.destination.name": "orders",
    "messaging.message.id": "m-1",
    "bus.attempt": 1,
}
REMOTE = SpanContext(0xABC << 64, 0xDEF, True, TraceFlags(1), TraceState([("k", "v")]))
PARENT = trace.set_span_in_context(trace.NonRecordingSpan(REMOTE), Context())


class Counting(IdGenerator):
    """Ids 1, 2, 3, ...: two providers given one each make the same ids for the same calls."""

    def __init__(self) -> None:
        self.next = 0

    def generate_span_id(self) -> int:
        self.next += 1
        return self.next

    def generate_trace_id(self) -> int:
        self.next += 1
        return self.next << 64


class Recorded(Sampler):
    """Records what it is asked; decides ``decision``, adds an attribute and a trace state."""

    def __init__(self, decision: Decision = Decision.RECORD_AND_SAMPLE) -> None:
        self.decision = decision
        self.asked: list[tuple[Any, ...]] = []

    def should_sample(
        self,
        parent_context,
        trace_id,
        name,
        kind=None,
        attributes=None,
        links=None,
        trace_state=None,
    ):  # type: ignore[no-untyped-def]
        parent = trace.get_current_span(parent_context).get_span_context()
        self.asked.append(
            (
                parent,
                trace_id,
                name,
                kind,
                dict(attributes or {}),
                tuple((k.context, dict(k.attributes or {})) for k in links or ()),
            )
        )
        return SamplingResult(
            self.decision,
            {**(attributes or {}), "sampler.said": "yes", "sampler.list": ["a", "b"]},
            TraceState([("s", "1")]),
        )

    def get_description(self) -> str:
        return "Recorded"


def provider(
    limits: SpanLimits | None = None, sampler: Sampler | None = None
) -> tuple[TracerProvider, InMemorySpanExporter]:
    made = TracerProvider(
        resource=Resource.create({"service.name": "light"}),
        id_generator=Counting(),
        span_limits=limits,
        **({"sampler": sampler} if sampler else {}),
    )
    exporter = InMemorySpanExporter()
    made.add_span_processor(SimpleSpanProcessor(exporter))
    return made, exporter


Start = Callable[..., trace.Span]
"""``(name, context, kind, attributes[, links])``, as ``LightTracer.start``."""


def both(
    steps: Callable[[Start], None], limits: SpanLimits | None = None, **sampler: Decision
) -> tuple[Sequence[ReadableSpan], Sequence[ReadableSpan], list[Any]]:
    """``steps`` run once on the SDK's path and once on the light one; their exported spans and
    what each sampler was asked."""
    results: list[Any] = []
    for light in (False, True):
        chosen = Recorded(**sampler) if sampler else None
        made, exporter = provider(limits, chosen)
        tracer = made.get_tracer("bus", "1.0")
        if light:
            start: Start = LightTracer(tracer).start
        else:

            def start(
                name: str,
                ctx: Context | None,
                kind: SpanKind,
                attrs: dict[str, Any],
                links: Sequence[Link] = (),
                sdk: Any = tracer,
            ) -> Any:
                return sdk.start_span(name, context=ctx, kind=kind, attributes=attrs, links=links)

        steps(start)
        results.append((exporter.get_finished_spans(), chosen.asked if chosen else None))
    (sdk, asked_sdk), (light_spans, asked_light) = results
    assert asked_sdk == asked_light
    return sdk, light_spans, asked_light


def same(sdk: Sequence[ReadableSpan], light: Sequence[ReadableSpan]) -> None:
    assert [fields(s) for s in light] == [fields(s) for s in sdk]


def handled(start: Start) -> None:
    span = start("process orders", PARENT, SpanKind.CONSUMER, dict(ATTRIBUTES))
    if isinstance(span, LightSpan):
        span.put("bus.outcome", "handled")
    else:
        span.set_attribute("bus.outcome", "handled")
    span.end()


def test_a_handled_delivery_exports_the_same_span() -> None:
    sdk, light, _ = both(handled)
    same(sdk, light)
    (span,) = light
    assert span.parent == REMOTE
    assert span.context.trace_id == REMOTE.trace_id
    assert span.context.trace_state == REMOTE.trace_state  # the parent-based sampler kept it
    assert dict(span.attributes or {}) == {**ATTRIBUTES, "bus.outcome": "handled"}


def everything(start: Start) -> None:
    """What user code may do to the current span, in order, then more after its end."""
    span = start("process orders", None, SpanKind.CONSUMER, dict(ATTRIBUTES))
    span.set_attribute("user.list", [1, 2, 3])
    span.set_attribute("user.map", {"nested": [1, 2]})
    span.set_attribute("user.mixed", [1, "a"])
    span.set_attributes({"user.text": "a long value", "bus.attempt": 2})
    span.add_event("first", {"n": 1, "xs": ["a", "b"]}, timestamp=span_time(span) + 1)
    span.add_link(REMOTE, {"why": "because"})
    span.add_link(trace.INVALID_SPAN_CONTEXT)  # dropped: invalid and nothing to say
    span.update_name("process orders again")
    span.set_status(Status(StatusCode.ERROR, "first"))
    span.set_status(StatusCode.UNSET)
    try:
        raise ValueError("boom")
    except ValueError as exc:
        span.record_exception(exc, {"extra": 1}, timestamp=span_time(span) + 2)
    span.set_status(StatusCode.OK)
    span.set_status(Status(StatusCode.ERROR, "ignored after OK"))
    assert span.is_recording()
    span.end(end_time=span_time(span) + 10)
    assert not span.is_recording()
    span.end()  # idempotent: logged, not exported twice
    span.set_attribute("late", 1)
    span.add_event("late")
    span.set_status(StatusCode.ERROR)
    span.update_name("late")


def span_time(span: trace.Span) -> int:
    return span.start_time if isinstance(span, ReadableSpan) else span._start_time  # type: ignore[attr-defined,no-any-return]


def test_user_calls_behave_as_on_the_sdk_span(caplog: pytest.LogCaptureFixture) -> None:
    sdk, light, _ = both(everything)
    same(sdk, light)
    (span,) = light
    assert span.parent is None  # a root: a new trace
    assert span.context.trace_flags.sampled
    assert span.name == "process orders again"
    assert span.status.status_code is StatusCode.OK
    assert dict(span.attributes or {})["user.list"] == (1, 2, 3)
    assert dict(span.attributes or {})["user.map"] == {"nested": (1, 2)}  # cleaned by the SDK
    assert [e.name for e in span.events] == ["first", "exception"]
    assert len(span.links) == 1
    warned = [r.getMessage() for r in caplog.records if r.name == "opentelemetry.sdk.trace"]
    assert warned.count("Calling end() on an ended span.") == 2  # once per path


def test_span_limits_clean_and_count_as_the_sdk_does() -> None:
    limits = SpanLimits(
        max_span_attributes=5,
        max_span_attribute_length=4,
        max_events=1,
        max_links=1,
        max_event_attributes=1,
        max_link_attributes=1,
    )
    sdk, light, _ = both(everything, limits)
    same(sdk, light)
    (span,) = light
    assert (span.dropped_attributes, span.dropped_events, span.dropped_links) != (0, 0, 0)
    assert all(len(v) <= 4 for v in (span.attributes or {}).values() if isinstance(v, str))


def test_the_limits_bite_on_bus_own_attributes_too() -> None:
    limits = SpanLimits(max_span_attributes=3, max_span_attribute_length=3)
    sdk, light, _ = both(handled, limits)
    same(sdk, light)
    assert light[0].dropped_attributes == 2
    assert light[0].attributes == {
        "messaging.message.id": "m-1",
        "bus.attempt": 1,
        "bus.outcome": "han",
    }


def test_the_sampler_decides_with_the_sdk_inputs_and_its_attributes_and_state_are_kept() -> None:
    sdk, light, asked = both(handled, decision=Decision.RECORD_AND_SAMPLE)
    same(sdk, light)
    assert asked == [(REMOTE, REMOTE.trace_id, "process orders", SpanKind.CONSUMER, ATTRIBUTES, ())]
    (span,) = light
    assert (span.attributes or {})["sampler.said"] == "yes"
    assert (span.attributes or {})["sampler.list"] == ("a", "b")  # cleaned as the SDK does
    assert span.context.trace_state == TraceState([("s", "1")])


def test_record_only_spans_record_but_are_not_exported() -> None:
    seen: list[trace.Span] = []

    def steps(start: Start) -> None:
        span = start("process orders", PARENT, SpanKind.CONSUMER, dict(ATTRIBUTES))
        seen.append(span)
        assert span.is_recording()
        assert not span.get_span_context().trace_flags.sampled
        span.end()

    sdk, light, _ = both(steps, decision=Decision.RECORD_ONLY)
    assert sdk == light == ()
    assert isinstance(seen[1], LightSpan)


def test_a_dropped_span_records_nothing_but_its_context_propagates() -> None:
    def steps(start: Start) -> None:
        span = start("process orders", PARENT, SpanKind.CONSUMER, dict(ATTRIBUTES))
        assert not span.is_recording()
        ctx = span.get_span_context()
        assert ctx.trace_id == REMOTE.trace_id
        assert not ctx.trace_flags.sampled
        assert ctx.trace_state == TraceState([("s", "1")])
        span.set_attribute("ignored", 1)
        span.end()

    sdk, light, _ = both(steps, decision=Decision.DROP)
    assert sdk == light == ()


def test_the_light_span_is_current_and_the_parent_of_user_spans() -> None:
    made, exporter = provider()
    tracer = made.get_tracer("bus")
    span = LightTracer(tracer).start("process orders", PARENT, SpanKind.CONSUMER, {})
    assert isinstance(span, LightSpan)
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        assert trace.get_current_span() is span
        with made.get_tracer("user").start_as_current_span("user work") as child:
            assert isinstance(child, SdkSpan)
    finally:
        otel_context.detach(token)
    span.end()
    user, process = exporter.get_finished_spans()
    assert user.parent == process.context == span.get_span_context()
    assert user.context.trace_id == REMOTE.trace_id


def test_used_as_a_context_manager_it_records_the_error_as_the_sdk_span_does() -> None:
    def steps(start: Start) -> None:
        span = start("process orders", PARENT, SpanKind.CONSUMER, {})
        with pytest.raises(KeyError), span:
            raise KeyError("gone")

    sdk, light, _ = both(steps)
    assert [fields(s, ids=False) for s in light] == [fields(s, ids=False) for s in sdk]
    assert light[0].status.status_code is StatusCode.ERROR


class Starting(SpanProcessor):
    """A processor that does something when a span starts: the light path must not be used."""

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        span.set_attribute("started.by", "processor")


def light_or_not(made: trace.TracerProvider) -> bool:
    span = LightTracer(made.get_tracer("bus")).start("x", None, SpanKind.CONSUMER, {})
    span.end()
    return isinstance(span, LightSpan)


def test_the_sdk_path_when_a_processor_acts_on_start_even_nested_or_added_later() -> None:
    made, exporter = provider()
    light = LightTracer(made.get_tracer("bus"))
    first = light.start("x", None, SpanKind.CONSUMER, {})
    first.end()
    made.add_span_processor(Starting())
    second = light.start("x", None, SpanKind.CONSUMER, {})
    second.end()
    assert isinstance(first, LightSpan)
    assert isinstance(second, SdkSpan)
    assert (exporter.get_finished_spans()[1].attributes or {})["started.by"] == "processor"

    nested, _ = provider()
    multi = ConcurrentMultiSpanProcessor()
    multi.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    nested.add_span_processor(multi)
    assert light_or_not(nested)
    multi.add_span_processor(Starting())
    assert not light_or_not(nested)
    nested.shutdown()


def test_the_sdk_path_for_another_provider_or_missing_sdk_internals() -> None:
    assert not light_or_not(trace.NoOpTracerProvider())
    made, _ = provider()
    tracer = made.get_tracer("bus")
    assert LightTracer(tracer).sdk() is tracer
    del tracer._tracer_metrics  # type: ignore[attr-defined]  # as if a newer SDK renamed it
    assert LightTracer(tracer).sdk() is None


def test_a_proxy_tracer_uses_the_light_path_once_it_has_a_provider(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)  # no global provider yet
    made, _ = provider()
    proxy = trace.ProxyTracer("bus")
    assert not isinstance(LightTracer(proxy).start("x", None, SpanKind.CONSUMER, {}), LightSpan)
    proxy._real_tracer = made.get_tracer("bus")
    span = LightTracer(proxy).start("x", None, SpanKind.CONSUMER, {})
    assert isinstance(span, LightSpan)
    span.end()


def test_links_given_at_the_start_reach_the_sampler_and_the_exporter_alike() -> None:
    links = [
        Link(REMOTE),
        Link(SpanContext(1, 2, False), {"a": "b"}),
        Link(trace.INVALID_SPAN_CONTEXT),
    ]

    def steps(start: Start) -> None:
        given = [Link(k.context, k.attributes) for k in links]  # the SDK bounds them in place
        span = start("send orders", None, SpanKind.CLIENT, {"n": 2}, given)
        span.end()

    limits = SpanLimits(max_links=1)
    sdk, light, asked = both(steps, limits, decision=Decision.RECORD_AND_SAMPLE)
    same(sdk, light)
    assert [c for c, _ in asked[0][5]] == [k.context for k in links]
    assert light[0].dropped_links == 1


def test_links_given_in_the_sdk_types_end_up_equal() -> None:
    def steps(start: Start) -> None:
        span = start("process orders", PARENT, SpanKind.CONSUMER, {})
        span.add_link(REMOTE)
        span.add_link(SpanContext(1, 2, False), {"a": "b"})
        span.end()

    sdk, light, _ = both(steps)
    same(sdk, light)
    assert [link.context for link in light[0].links] == [REMOTE, SpanContext(1, 2, False)]
    assert isinstance(light[0].links[0], Link)
