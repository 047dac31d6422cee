"""A redrive's span links the trace each moved message carries: in its body (bus's envelope, or
an SNS notification wrapping it), else in its AWSTraceHeader."""

from __future__ import annotations

import json

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bus.otel.tracing import moving

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
ENVELOPE = json.dumps(
    {"id": "e1", "type": "Ping", "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01", "data": {}}
)


def test_each_moved_message_is_linked_to_its_own_trace() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    wrapped = json.dumps({"Type": "Notification", "Message": ENVELOPE})
    xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    with moving("redrive", "billing-dlq", provider) as links:
        links.add(ENVELOPE)
        links.add(wrapped)
        links.add("not an envelope", xray)
        links.add("not an envelope")  # no trace to link
        links.add('{"traceparent":"00-00000000000000000000000000000000-00f067aa0ba902b7-01"}')
    (span,) = exporter.get_finished_spans()
    assert span.name == "redrive billing-dlq"
    assert [
        (f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for link in span.links
    ] == [
        (TRACE, "00f067aa0ba902b7"),
        (TRACE, "00f067aa0ba902b7"),
        ("5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8"),
    ]
