"""bus.otel.sdkparts.readable makes the very ReadableSpan the SDK's constructor makes (type, every
stored field), and falls back to the constructor when the SDK stores its arguments otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from bus.otel import sdkparts

FIELDS: dict[str, Any] = {
    "_name": "process orders",
    "_context": SpanContext(1 << 70, 9, False, TraceFlags(1)),
    "_parent": SpanContext(1 << 70, 8, True, TraceFlags(1)),
    "_resource": Resource.create({"service.name": "x"}),
    "_attributes": {"bus.attempt": 1},
    "_events": (),
    "_links": (),
    "_kind": SpanKind.CONSUMER,
    "_instrumentation_info": None,
    "_status": Status(StatusCode.ERROR, "no"),
    "_start_time": 10,
    "_end_time": 20,
    "_instrumentation_scope": None,
}


def constructed() -> ReadableSpan:
    return ReadableSpan(**{name[1:]: value for name, value in FIELDS.items()})


def test_the_sdk_stores_its_arguments_so_the_fields_are_given_directly() -> None:
    assert sdkparts.FIELDS
    made = sdkparts.readable(dict(FIELDS))
    assert type(made) is ReadableSpan
    assert vars(made) == vars(constructed())
    assert made.to_json() == constructed().to_json()


def test_a_sdk_storing_them_otherwise_is_called(monkeypatch: pytest.MonkeyPatch) -> None:
    original = ReadableSpan.__init__

    def init(self: ReadableSpan, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._more = "a new field"  # type: ignore[attr-defined]

    monkeypatch.setattr(ReadableSpan, "__init__", init)
    assert not sdkparts._stores_its_arguments()
    monkeypatch.setattr(sdkparts, "FIELDS", False)
    made = sdkparts.readable(dict(FIELDS))
    assert vars(made) == {**vars(constructed()), "_more": "a new field"}


def test_a_batch_processor_whose_on_end_does_more_is_called_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    processor = BatchSpanProcessor(InMemorySpanExporter())
    try:
        assert sdkparts.EMITS_ONLY
        assert sdkparts.endings(processor) == ((processor._batch_processor.emit,), ())
        counted: list[ReadableSpan] = []

        def on_end(self: BatchSpanProcessor, span: ReadableSpan) -> None:
            counted.append(span)
            if span.context and span.context.trace_flags.sampled:
                self._batch_processor.emit(span)

        monkeypatch.setattr(BatchSpanProcessor, "on_end", on_end)
        assert not sdkparts._emits_only()
        monkeypatch.setattr(sdkparts, "EMITS_ONLY", False)
        sampled, unsampled = sdkparts.endings(processor)
        assert sampled == unsampled == (processor.on_end,)
    finally:
        processor.shutdown()


def test_a_light_span_hands_over_exactly_the_fields_the_constructor_stores() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from bus.otel.light import LightSpan, LightTracer

    made = TracerProvider()
    exporter = InMemorySpanExporter()
    made.add_span_processor(SimpleSpanProcessor(exporter))
    light = LightTracer(made.get_tracer("bus"))
    plain = light.start_child("x", FIELDS["_parent"], SpanKind.CONSUMER, {"bus.attempt": 1})
    odd = light.start_child("y", None, SpanKind.CONSUMER, {})
    assert isinstance(plain, LightSpan)
    assert isinstance(odd, LightSpan)
    assert set(vars(plain)) == set(sdkparts.NAMES)  # its other state is in slots
    odd.extra = "set by someone"  # type: ignore[attr-defined]
    for span in (plain, odd):
        span.end()
        span.set_attribute("late", 1)  # refused once ended: the exported fields do not change
    for exported in exporter.get_finished_spans():
        assert type(exported) is ReadableSpan
        again = ReadableSpan(**{name[1:]: value for name, value in vars(exported).items()})
        assert vars(exported) == vars(again)
        assert "late" not in (exported.attributes or {})
