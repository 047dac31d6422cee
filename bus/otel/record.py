"""Recording spans to a JSON-lines file (``bus up`` records its sample traffic in ``.bus/``).

One line per finished span: ids in hex, times in Unix nanoseconds, attributes, events and links::

    {"trace_id": "4bf9...", "span_id": "00f0...", "parent_id": null, "name": "publish OrderPlaced",
     "kind": "PRODUCER", "start": 1764716400000000000, "end": ..., "status": "UNSET",
     "attributes": {...}, "events": [{"name": "retry", "time": ..., "attributes": {...}}],
     "links": [{"trace_id": ..., "span_id": ...}]}

``bus trace EVENT_ID`` reads the file back (``bus.cli.trace``); it needs no OpenTelemetry.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """One span as a JSON-able dict (see the module doc)."""
    context = span.get_span_context()
    return {
        "trace_id": f"{context.trace_id:032x}" if context else None,
        "span_id": f"{context.span_id:016x}" if context else None,
        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "start": span.start_time,
        "end": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "events": [
            {"name": e.name, "time": e.timestamp, "attributes": _plain(e.attributes)}
            for e in span.events
            if e.name != "exception"
        ],
        "links": [
            {"trace_id": f"{link.context.trace_id:032x}", "span_id": f"{link.context.span_id:016x}"}
            for link in span.links
        ],
    }


def _plain(attributes: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dict(attributes or {}).items()}


class JsonLinesExporter(SpanExporter):
    """Appends each finished span to ``path`` as one JSON line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_record(s), default=str) + "\n" for s in spans)
        with self._lock:
            if self._file.closed:
                return SpanExportResult.FAILURE
            self._file.write(lines)
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()


@contextmanager
def recording(path: Path) -> Iterator[TracerProvider]:
    """A TracerProvider writing every span to ``path`` (emptied first) while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(path)))
    try:
        yield provider
    finally:
        provider.shutdown()
