"""What an exporter receives of a span, field by field, for comparing the light path
(bus.otel.light) with the SDK's: ``fields`` keeps ids, ``shapes`` replaces ids and times by
their relations (which span is whose parent or link target, times in order)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext

ID_KEYS = {"messaging.message.id", "bus.event.id", "message_id"}
"""Attributes whose values are ids given by AWS or bus: compared by presence."""
KEY = re.compile(r"\bk[0-9a-f]{10}\b")
"""The tests' per-run keys (tests/otel/test_tracing_flow.py ``key()``), in error messages."""


def _context(ctx: SpanContext | None) -> tuple[Any, ...] | None:
    if ctx is None:
        return None
    return (ctx.trace_id, ctx.span_id, ctx.is_remote, int(ctx.trace_flags), ctx.trace_state)


def _attributes(attributes: Any, ids: bool) -> dict[str, Any]:
    found = dict(attributes or {})
    if not ids:
        found = {
            k: "<id>" if k in ID_KEYS else KEY.sub("<key>", v) if isinstance(v, str) else v
            for k, v in found.items()
        }
        if "exception.stacktrace" in found:  # its frames' text, not its line numbers
            found["exception.stacktrace"] = found["exception.stacktrace"].splitlines()[-1]
    return found


def fields(span: ReadableSpan, *, ids: bool = True) -> dict[str, Any]:
    """Everything an exporter reads of ``span`` but its start and end times (and, unless
    ``ids``, its ids and the events' timestamps; those compared as times since the start)."""
    assert span.start_time is not None
    assert span.end_time is not None
    assert span.start_time <= span.end_time
    for event in span.events:
        assert span.start_time <= event.timestamp <= span.end_time
    events = [
        (e.name, _attributes(e.attributes, ids), *((e.timestamp - span.start_time,) if ids else ()))
        for e in span.events
    ]
    described: dict[str, Any] = {
        "type": type(span),
        "name": span.name,
        "kind": span.kind,
        "attributes": _attributes(span.attributes, ids),
        "events": events if ids else sorted(events, key=repr),  # answers come in any order
        "status": (span.status.status_code, span.status.description),
        "resource": (dict(span.resource.attributes), span.resource.schema_url),
        "scope": span.instrumentation_scope,
        "dropped": (span.dropped_attributes, span.dropped_events, span.dropped_links),
        "flags": int(span.context.trace_flags) if span.context else None,
        "trace_state": span.context.trace_state if span.context else None,
        "remote": (
            span.context.is_remote if span.context else None,
            span.parent.is_remote if span.parent else None,
        ),
        "json": _json_keys(span),
    }
    if ids:
        described["context"] = _context(span.context)
        described["parent"] = _context(span.parent)
        described["links"] = [
            (_context(link.context), dict(link.attributes or {})) for link in span.links
        ]
    return described


def _json_keys(span: ReadableSpan) -> list[str]:
    return sorted(json.loads(span.to_json()))


def shapes(spans: Sequence[ReadableSpan]) -> list[tuple[Any, ...]]:
    """Each span's fields without ids or times, plus its relations to the others by their
    description (its parent's, its links' targets', the other spans of its trace), sorted."""
    plain = [fields(s, ids=False) for s in spans]
    text = [repr(p) for p in plain]
    by_span_id = {s.context.span_id: text[i] for i, s in enumerate(spans) if s.context}
    by_trace: dict[int, list[str]] = {}
    for i, s in enumerate(spans):
        if s.context:
            by_trace.setdefault(s.context.trace_id, []).append(text[i])
    described = []
    for i, s in enumerate(spans):
        assert s.context is not None
        parent = None
        if s.parent is not None:
            parent = by_span_id.get(s.parent.span_id, "outside")
            assert s.parent.trace_id == s.context.trace_id
        links = sorted(by_span_id.get(link.context.span_id, "outside") for link in s.links)
        mates = sorted(by_trace[s.context.trace_id])
        described.append((plain[i], parent, links, mates))
    return sorted(described, key=repr)
