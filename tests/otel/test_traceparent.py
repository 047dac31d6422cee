"""bus's own ``traceparent`` parse gives OpenTelemetry's W3C propagator's answer for every value
(valid or not, without surrounding whitespace), and writes what it reads; a delivery's parent is
its envelope's ``traceparent``, else its ``AWSTraceHeader``."""

from __future__ import annotations

import pytest
import structlog
from hypothesis import example, given
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.trace import SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from bus.envelope import Envelope
from bus.middleware.consume import Incoming, Outcome
from bus.otel import traceparent
from bus.otel.traceparent import context_of, span_context_of, traceparent_of
from bus.otel.tracing import _opening
from bus.worker.message import Received

PROPAGATOR = TraceContextTextMapPropagator()
VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def propagated(text: str) -> SpanContext | None:
    """What the OpenTelemetry propagator reads from a ``traceparent`` header, if anything."""
    found = trace.get_current_span(PROPAGATOR.extract({"traceparent": text})).get_span_context()
    return found if found.is_valid else None


HEX = "0123456789abcdef"
hex_digits = st.text(alphabet=HEX, min_size=1, max_size=34)
noise = st.text(alphabet=HEX + "ABCDEFxg-:", max_size=6)


@st.composite
def near_traceparents(draw: st.DrawFn) -> str:
    """Values close to valid ones: each field valid or not, and sometimes more after them."""
    fields = [
        draw(st.sampled_from(["00", "01", "fe", "ff", "0", "0A"]) | hex_digits),
        draw(st.sampled_from(["0" * 32, "4bf92f3577b34da6a3ce929d0e0e4736"]) | hex_digits),
        draw(st.sampled_from(["0" * 16, "00f067aa0ba902b7"]) | hex_digits),
        draw(st.sampled_from(["00", "01", "ff", "03"]) | hex_digits),
    ]
    separator = draw(st.sampled_from(["-", "-", "-", "_"]))
    return separator.join(fields) + draw(st.sampled_from(["", "", "-", "-x-y", "x"]) | noise)


@given(near_traceparents())
@example(VALID)
@example(VALID + "-extra")  # version 00 has exactly four fields
@example("01" + VALID[2:] + "-what-version-01-adds")
@example("ff" + VALID[2:])
@example(VALID.upper())
@example(VALID[:-2] + "0")
@example("01" + VALID[2:] + "-" + "a" * 500)  # longer than the propagator reads
def test_the_parse_agrees_with_the_opentelemetry_propagator(text: str) -> None:
    assert span_context_of(text) == propagated(text)


@given(st.text(alphabet=st.characters(exclude_categories=("Zs", "Cc", "Zl", "Zp")), max_size=70))
def test_any_text_agrees_too(text: str) -> None:
    assert span_context_of(text) == propagated(text)


ODD = HEX + "ABCDEF x_+-٣"
"""Lowercase hex digits, and what ``bytes.fromhex`` or ``int`` would take too (capitals, spaces,
underscores, signs, ``0x``, other scripts' digits)."""


@st.composite
def common_shapes(draw: st.DrawFn) -> str:
    """Version 00's shape (55 characters, its dashes, flags 01 or 00), the ids valid or nearly."""
    trace_id = draw(
        st.sampled_from(["0" * 32, VALID[3:35]]) | st.text(ODD, min_size=32, max_size=32)
    )
    span_id = draw(
        st.sampled_from(["0" * 16, VALID[36:52]]) | st.text(ODD, min_size=16, max_size=16)
    )
    return f"00-{trace_id}-{span_id}-{draw(st.sampled_from(['01', '00']))}"


@given(common_shapes())
@example(VALID)
@example(VALID.replace("4bf9", "4BF9"))
@example(VALID.replace("4bf9", "0x4b"))
@example(VALID.replace("4bf9", "4b f"))
@example(VALID.replace("4bf9", "4b_f"))
def test_the_common_shape_is_read_as_the_expression_reads_it(text: str) -> None:
    assert span_context_of(text) == traceparent._parsed(text) == propagated(text)


def test_the_common_shape_is_read_without_the_expression(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(text: str | None) -> None:
        raise AssertionError(f"parsed by the expression: {text}")

    monkeypatch.setattr(traceparent, "_parsed", refused)
    for flags in ("01", "00"):
        found = span_context_of(VALID[:-2] + flags)
        assert found == propagated(VALID[:-2] + flags)
        assert type(found) is SpanContext


def test_a_valid_value_is_a_remote_parent_and_is_written_back_the_same() -> None:
    parent = context_of(VALID)
    assert parent is not None
    remote = trace.get_current_span(parent)
    found = remote.get_span_context()
    assert (found.trace_id, found.span_id, found.is_remote) == (
        0x4BF92F3577B34DA6A3CE929D0E0E4736,
        0x00F067AA0BA902B7,
        True,
    )
    assert found.trace_flags.sampled
    assert traceparent_of(remote) == VALID


def test_nothing_and_garbage_are_no_parent() -> None:
    assert context_of(None) is None
    assert context_of("") is None
    assert context_of("not a traceparent") is None


XRAY = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def delivery(traceparent: str | None, trace_header: str | None) -> Incoming:
    system = {"ApproximateReceiveCount": "1"}
    if trace_header is not None:
        system["AWSTraceHeader"] = trace_header
    found = Incoming(
        Received("m1", "r", "{}", {}, system),
        "orders",
        1,
        structlog.get_logger(),
        lambda d, e: Outcome("dead-letter"),
    )
    found.envelope = Envelope(
        id="e1", type="Ping", version=1, source="t", time=None, data={}, traceparent=traceparent
    )
    return found


def parent_ids(found: Incoming) -> tuple[str, str] | None:
    """The ids of the parent the consume span starts from (what ``TracingConsume`` reads)."""
    ids, _ = _opening(found)
    if ids is None:
        return None
    assert ids.is_remote
    return f"{ids.trace_id:032x}", f"{ids.span_id:016x}"


def test_a_delivery_continues_its_traceparent_else_its_aws_trace_header() -> None:
    w3c = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    xray = ("5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8")
    assert parent_ids(delivery(VALID, XRAY)) == w3c  # the envelope's wins
    assert parent_ids(delivery(None, XRAY)) == xray
    assert parent_ids(delivery(VALID + "-extra", XRAY)) == xray  # not a valid one: the header's
    assert parent_ids(delivery(None, "Root=1-5759e988-bd862e3fe1be46a994272793")) is None
    assert parent_ids(delivery(None, None)) is None


def test_without_the_span_context_layout_the_constructor_gives_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = span_context_of(VALID)
    assert traceparent.SPAN_CONTEXT_LAYOUT  # made by tuple.__new__ on this SDK
    monkeypatch.setattr(traceparent, "SPAN_CONTEXT_LAYOUT", False)
    constructed = span_context_of(VALID)
    assert constructed == made == propagated(VALID)
    assert constructed is not None
    assert made is not None
    assert (constructed.trace_state, constructed.is_valid) == (made.trace_state, made.is_valid)
