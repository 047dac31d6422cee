"""How a light span reaches its processors and becomes current: bus.otel.sdkparts.endings makes
the calls the provider's ``on_end`` makes (a span to every processor, a BatchSpanProcessor's
queue only when sampled, processors added later too), and bus.otel.current sets the context the
API's ``attach(set_span_in_context(span))`` sets."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import SpanKind

from bus.otel import current
from bus.otel.light import LightSpan, LightTracer
from bus.otel.sdkparts import endings


class Ends(SpanProcessor):
    """Keeps every span it is given at its end, sampled or not."""

    def __init__(self) -> None:
        self.ended: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span)


class RecordOnly(Sampler):
    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return SamplingResult(Decision.RECORD_ONLY)

    def get_description(self) -> str:
        return "RecordOnly"


def test_each_processor_gets_what_its_on_end_would_take() -> None:
    for sampler, exported in ((None, 1), (RecordOnly(), 0)):
        made = TracerProvider(**({"sampler": sampler} if sampler else {}))
        batched, simple = InMemorySpanExporter(), InMemorySpanExporter()
        ends = Ends()
        made.add_span_processor(BatchSpanProcessor(batched))
        made.add_span_processor(ends)
        made.add_span_processor(SimpleSpanProcessor(simple))
        span = LightTracer(made.get_tracer("bus")).start_child("x", None, SpanKind.CONSUMER, {})
        assert isinstance(span, LightSpan)
        span.end()
        made.force_flush()
        assert len(batched.get_finished_spans()) == exported
        assert len(simple.get_finished_spans()) == exported
        assert len(ends.ended) == 1  # recorded: its on_end sees it, sampled or not
        made.shutdown()


def test_the_batch_processors_queue_is_called_directly_and_others_on_end() -> None:
    made = TracerProvider()
    batch = BatchSpanProcessor(InMemorySpanExporter())
    ends = Ends()
    made.add_span_processor(batch)
    made.add_span_processor(ends)
    sampled, unsampled = endings(made._active_span_processor)
    assert sampled == (batch._batch_processor.emit, ends.on_end)
    assert unsampled == (ends.on_end,)
    made.shutdown()


def test_a_processor_added_while_a_span_is_open_gets_it() -> None:
    made = TracerProvider()
    first, later = InMemorySpanExporter(), InMemorySpanExporter()
    made.add_span_processor(SimpleSpanProcessor(first))
    light = LightTracer(made.get_tracer("bus"))
    span = light.start_child("x", None, SpanKind.CONSUMER, {})
    made.add_span_processor(SimpleSpanProcessor(later))
    span.end()
    assert len(first.get_finished_spans()) == len(later.get_finished_spans()) == 1


def test_attach_sets_what_the_api_sets_and_detach_restores_it() -> None:
    span = trace.NonRecordingSpan(trace.SpanContext(1, 2, False))
    before = otel_context.get_current()
    expected = trace.set_span_in_context(span)
    assert current.DIRECT
    token = current.attach_span(span)
    try:
        now = otel_context.get_current()
        assert type(now) is Context
        assert now == expected
        assert list(now) == list(expected)
        assert trace.get_current_span() is span
    finally:
        current.detach(token)
    assert otel_context.get_current() is before


def test_another_runtime_context_goes_through_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(current, "_VARIABLE", None)
    span = trace.NonRecordingSpan(trace.SpanContext(1, 2, False))
    token = current.attach_span(span)
    assert trace.get_current_span() is span
    current.detach(token)
    assert trace.get_current_span() is not span


def test_a_token_of_another_context_is_logged_as_the_api_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import contextvars

    span = trace.NonRecordingSpan(trace.SpanContext(1, 2, False))
    token = contextvars.copy_context().run(current.attach_span, span)
    current.detach(token)
    assert "Failed to detach context" in caplog.text
