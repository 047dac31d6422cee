"""W3C Trace Context ``traceparent`` values read into OpenTelemetry span contexts, and written.

One parse per consumed message, so it is a plain one, with the same answers as OpenTelemetry's
``TraceContextTextMapPropagator`` for every value without surrounding whitespace (a header's; an
envelope's field has none). The value every traced producer writes (version ``00``, its four
fields alone, flags ``01`` or ``00``) is read by slices and ``bytes.fromhex``: each id's digits
decoded and encoded back (``.hex()``), which gives them back only if they were exactly lowercase
hex digits, and the id made from the bytes (``int.from_bytes``). Anything else (another
version, other flags, a malformed value) goes through one regular expression without groups (the
four fields' lengths, dashes and lowercase hex digits), then slices, ``int`` for the two ids and
the flags looked up by their two digits. Either way the ``SpanContext`` is made as its constructor
makes it (``tuple.__new__``, when bus.otel.sdkparts.SPAN_CONTEXT_LAYOUT holds). (Per call on this
machine, in place: the expression alone cost about 130 first-level instruction cache misses a
message, its engine's code and the memory it allocates for each match cold each time; the
common path's calls are a few small ones.)
"""

from __future__ import annotations

import re

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanContext, TraceFlags
from opentelemetry.trace.span import DEFAULT_TRACE_STATE

from bus.otel.sdkparts import SPAN_CONTEXT_LAYOUT
from bus.publish.prepare import TRACEPARENT_MAX_LENGTH

_FIELDS = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
"""Version, trace id, parent id, flags (version 00 has exactly these; later ones may add more
after a dash)."""
MAXIMUM_LENGTH = TRACEPARENT_MAX_LENGTH
"""A longer value is ignored (as the OpenTelemetry propagator does; the publisher refuses it)."""
_FLAGS = {f"{n:02x}": TraceFlags(n) for n in range(256)}
"""The flags by their two hex digits."""
_SAMPLED, _NOT_SAMPLED = _FLAGS["01"], _FLAGS["00"]
_new = tuple.__new__
_fromhex = bytes.fromhex
_from_bytes = int.from_bytes
EMPTY = otel_context.Context()
"""The root context: a Context is an immutable mapping, one serves every parent."""


def span_context_of(traceparent: str | None) -> SpanContext | None:
    """The remote span context ``traceparent`` names; ``None`` if none, or not a valid one (a bad
    format, version ``ff``, version ``00`` with more fields, an all-zero trace or parent id)."""
    if (
        traceparent is not None
        and len(traceparent) == 55
        and traceparent.startswith("00-")
        and traceparent[35] == "-"
        and SPAN_CONTEXT_LAYOUT
    ):  # version 00's shape: the value every traced producer writes
        if traceparent.endswith("-01"):
            found = _common(traceparent, _SAMPLED)
        elif traceparent.endswith("-00"):
            found = _common(traceparent, _NOT_SAMPLED)
        else:
            found = None
        if found is not None:
            return found
    return _parsed(traceparent)


def _common(traceparent: str, flags: TraceFlags) -> SpanContext | None:
    """The span context of a version ``00`` value whose dashes and flags were checked, if its ids
    are lowercase hex digits and not zero (else None: ``_parsed`` says what it is)."""
    trace_hex, span_hex = traceparent[3:35], traceparent[36:52]
    try:
        trace_bytes, span_bytes = _fromhex(trace_hex), _fromhex(span_hex)
    except ValueError:
        return None
    # fromhex also takes capitals and spaces between bytes; encoded back, those differ
    if trace_bytes.hex() != trace_hex or span_bytes.hex() != span_hex:
        return None
    trace_id, span_id = _from_bytes(trace_bytes, "big"), _from_bytes(span_bytes, "big")
    if not trace_id or not span_id:
        return None
    return _new(SpanContext, (trace_id, span_id, True, flags, DEFAULT_TRACE_STATE, True))


def _parsed(traceparent: str | None) -> SpanContext | None:
    """``span_context_of`` for any value: its expression, slices and ``int``s."""
    if not traceparent or _FIELDS.match(traceparent) is None:
        return None
    size = len(traceparent)
    if size != 55 and (
        size > MAXIMUM_LENGTH or traceparent[55] != "-" or traceparent.startswith("00")
    ):
        return None
    if traceparent.startswith("ff"):
        return None
    trace_id = int(traceparent[3:35], 16)
    span_id = int(traceparent[36:52], 16)
    if not trace_id or not span_id:
        return None
    flags = _FLAGS[traceparent[53:55]]
    if SPAN_CONTEXT_LAYOUT:  # what SpanContext() makes of these (valid: checked above)
        return _new(SpanContext, (trace_id, span_id, True, flags, DEFAULT_TRACE_STATE, True))
    return SpanContext(trace_id, span_id, True, flags)


def context_of(traceparent: str | None) -> otel_context.Context | None:
    """The remote span context a ``traceparent`` names, as a parent; ``None`` if none/invalid."""
    remote = span_context_of(traceparent)
    return None if remote is None else as_parent(remote)


def as_parent(remote: SpanContext) -> otel_context.Context:
    """A context whose current span is ``remote``: the parent of a span started in it."""
    return trace.set_span_in_context(trace.NonRecordingSpan(remote), EMPTY)


def traceparent_of(span: Span) -> str:
    """The ``traceparent`` naming ``span`` (version 00)."""
    c = span.get_span_context()
    return f"00-{c.trace_id:032x}-{c.span_id:016x}-{c.trace_flags:02x}"
