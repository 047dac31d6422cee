"""Turning OpenTelemetry on for a worker and its publishers: one call, two lists of middlewares.

::

    otel = instrumentation()                       # the global TracerProvider
    worker = Worker(aws, topology, middleware=otel.consume, publish_middleware=otel.publish)
    async with Publisher.open(settings, middleware=otel.publish) as publisher: ...

Put them first (outermost): the consume span then covers the whole pipeline, and the publish
middleware writes the ``traceparent`` before the others see the event.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.trace import TracerProvider

from bus.middleware.consume import ConsumeMiddleware
from bus.middleware.publish import PublishMiddleware
from bus.otel.tracing import Tracing


@dataclass(frozen=True)
class Instrumentation:
    """The middlewares that instrument a worker (``consume``) and a publisher (``publish``)."""

    consume: tuple[ConsumeMiddleware, ...]
    publish: tuple[PublishMiddleware, ...]


def instrumentation(*, tracer_provider: TracerProvider | None = None) -> Instrumentation:
    """Traces (the global TracerProvider unless ``tracer_provider`` is given)."""
    tracing = Tracing(tracer_provider)
    return Instrumentation(consume=(tracing.consume,), publish=(tracing.publish,))
