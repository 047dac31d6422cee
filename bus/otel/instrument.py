"""Turning OpenTelemetry on for a worker and its publishers: one call, two lists of middlewares.

::

    otel = instrumentation()                       # the global TracerProvider
    worker = Worker(aws, topology, middleware=otel.consume, publish_middleware=otel.publish)
    async with Publisher.open(settings, middleware=otel.publish) as publisher: ...

Put them first (outermost): the consume span then covers the whole pipeline, and the publish
middleware writes the ``traceparent`` before the others see the event.

``bus worker`` does this itself when the standard variables ask for OTLP export of traces
(``traces_from_environment``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry.trace import TracerProvider

from bus.middleware.consume import ConsumeMiddleware
from bus.middleware.publish import PublishMiddleware
from bus.otel.tracing import Tracing

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider


@dataclass(frozen=True)
class Instrumentation:
    """The middlewares that instrument a worker (``consume``) and a publisher (``publish``)."""

    consume: tuple[ConsumeMiddleware, ...]
    publish: tuple[PublishMiddleware, ...]


def instrumentation(
    *, tracer_provider: TracerProvider | None = None, light: bool = True
) -> Instrumentation:
    """Traces (the global TracerProvider unless ``tracer_provider`` is given); ``light=False``
    makes every span through the SDK's ``Tracer.start_span`` (see bus.otel.light)."""
    tracing = Tracing(tracer_provider, light=light)
    return Instrumentation(consume=(tracing.consume,), publish=(tracing.publish,))


TRACE_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def traces_configured(environ: Mapping[str, str]) -> bool:
    """Whether the standard variables ask for OTLP export of traces."""
    return any(environ.get(name) for name in TRACE_VARIABLES) and (
        environ.get("OTEL_TRACES_EXPORTER", "otlp") != "none"
        and environ.get("OTEL_SDK_DISABLED", "false").lower() != "true"
    )


def traces_from_environment(
    service: str, environ: Mapping[str, str] | None = None
) -> tuple[Instrumentation, SdkTracerProvider] | None:
    """Traces exported by OTLP (HTTP/protobuf, batched) when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
    ``..._TRACES_ENDPOINT`` is set (the exporter reads the other ``OTEL_EXPORTER_OTLP_*``
    variables itself): the middlewares and their provider (shut it down to flush). ``service``
    is the ``service.name`` unless ``OTEL_SERVICE_NAME`` or ``OTEL_RESOURCE_ATTRIBUTES`` names
    one. None when the variables ask for nothing."""
    environ = os.environ if environ is None else environ
    if not traces_configured(environ):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    named = environ.get("OTEL_SERVICE_NAME") or "service.name=" in environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    provider = SdkTracerProvider(
        resource=Resource.create({} if named else {"service.name": service})
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return instrumentation(tracer_provider=provider), provider
