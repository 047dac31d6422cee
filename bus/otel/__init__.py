"""OpenTelemetry for bus: the ``otel`` extra (``pip install 'bus-framework[otel]'``).

Nothing in bus's core imports this package: importing it imports OpenTelemetry; a worker or
publisher without it records nothing and pays nothing. See docs/observability.md.
``instrumentation()`` gives the tracing middlewares of a worker and a publisher; ``Metrics`` is the
consume and publish middleware recording bus's metrics.
"""

from bus.otel.instrument import Instrumentation, instrumentation
from bus.otel.metrics import Metrics
from bus.otel.tracing import Tracing, TracingConsume, TracingPublish
from bus.otel.xray import traceparent_to_xray, xray_to_traceparent

__all__ = [
    "Instrumentation",
    "Metrics",
    "Tracing",
    "TracingConsume",
    "TracingPublish",
    "instrumentation",
    "traceparent_to_xray",
    "xray_to_traceparent",
]
