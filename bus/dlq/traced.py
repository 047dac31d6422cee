"""The span of a redrive or a replay, when this process traces (``bus.otel``).

The messages keep their ``traceparent``: their next handling continues the trace they were
published in. The redrive's own span links each message it moved. Nothing here imports
OpenTelemetry unless the process already did (an application or ``opentelemetry-instrument`` set
a TracerProvider up); without it the links are a no-op.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Links(Protocol):
    def add(self, body: str, trace_header: str | None = None) -> None: ...


class _NoLinks:
    def add(self, body: str, trace_header: str | None = None) -> None:
        pass


NO_LINKS: Links = _NoLinks()


@contextmanager
def moving_span(operation: str, queue: str) -> Iterator[Links]:
    """``operation`` (``redrive``, ``replay``) of ``queue`` as a span, if this process traces."""
    if "opentelemetry.trace" not in sys.modules:
        yield NO_LINKS
        return
    from bus.otel.tracing import moving

    with moving(operation, queue) as links:
        yield links
