"""X-Ray trace headers (SQS's AWSTraceHeader) as W3C traceparent, and back."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bus.otel.xray import traceparent_to_xray, xray_to_traceparent

AWS_EXAMPLE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def test_the_aws_example_converts() -> None:
    assert xray_to_traceparent(AWS_EXAMPLE) == (
        "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
    )


def test_field_order_case_spaces_and_extra_fields_do_not_matter() -> None:
    header = "Sampled=0; Lineage=a87bd80c:1|68fd508a:5 ;Parent=53995C3F42CD8AD8;Root=1-5759E988-BD862E3FE1BE46A994272793"
    assert xray_to_traceparent(header) == (
        "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-00"
    )


def test_a_header_without_a_span_to_continue_gives_none() -> None:
    for header in (
        "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",  # no Parent
        "Root=1-5759e988-bd862e3fe1be46a99427279;Parent=53995c3f42cd8ad8",  # short root
        "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",  # unknown version
        "Root=1-00000000-000000000000000000000000;Parent=53995c3f42cd8ad8",  # invalid trace id
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000",  # invalid span id
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=xyz",
        "",
        "garbage",
    ):
        assert xray_to_traceparent(header) is None, header


@given(
    trace_id=st.from_regex(r"[0-9a-f]{32}", fullmatch=True).filter(lambda t: set(t) != {"0"}),
    parent=st.from_regex(r"[0-9a-f]{16}", fullmatch=True).filter(lambda p: set(p) != {"0"}),
    sampled=st.booleans(),
)
def test_round_trip(trace_id: str, parent: str, sampled: bool) -> None:
    traceparent = f"00-{trace_id}-{parent}-{'01' if sampled else '00'}"
    assert xray_to_traceparent(traceparent_to_xray(traceparent)) == traceparent
