"""OpenTelemetry for bus (the ``otel`` extra: ``pip install 'bus-framework[otel]'``).

Nothing in bus's core imports this package: importing it imports OpenTelemetry. See
docs/observability.md. ``instrumentation()`` gives the middlewares of a worker and a publisher.
"""

from bus.otel.instrument import Instrumentation, instrumentation
from bus.otel.tracing import Tracing, TracingConsume, TracingPublish
from bus.otel.xray import traceparent_to_xray, xray_to_traceparent

__all__ = [
    "Instrumentation",
    "Tracing",
    "TracingConsume",
    "TracingPublish",
    "instrumentation",
    "traceparent_to_xray",
    "xray_to_traceparent",
]
