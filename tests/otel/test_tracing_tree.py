"""``bus trace``'s reading of recorded spans: which flow to show, which spans belong to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bus.cli import main
from bus.cli.trace import flow_of, load_spans, pick_flow


def span(
    trace: str, span_id: str, kind: str, event: str, event_type: str, **more: object
) -> dict[str, object]:
    return {
        "trace_id": trace,
        "span_id": span_id,
        "parent_id": more.pop("parent", None),
        "name": f"{kind} {event_type}",
        "kind": kind,
        "start": more.pop("start", 0),
        "end": 10,
        "status": "UNSET",
        "attributes": {"bus.event.id": event, "bus.event.type": event_type, **more},
        "events": [],
        "links": [],
    }


SPANS = [
    span("t1", "a1", "PRODUCER", "e-small", "OrderPlaced", start=1),
    span("t1", "a2", "CONSUMER", "e-small", "OrderPlaced", parent="a1"),
    span("t2", "b1", "PRODUCER", "e-big", "OrderPlaced", start=2),
    span(
        "t2",
        "b2",
        "CONSUMER",
        "e-big",
        "OrderPlaced",
        parent="b1",
        start=5,
        **{"messaging.destination.name": "billing", "bus.outcome": "handled", "bus.attempt": 2},
    ),
    span(
        "t2",
        "b3",
        "PRODUCER",
        "f-child",
        "PaymentCaptured",
        parent="b2",
        start=7,
        **{"messaging.destination.name": "orders"},
    ),
    span("t2", "b4", "CLIENT", "e-big", "OrderPlaced"),
    span("t3", "c1", "PRODUCER", "g-other", "Ping"),
    *[span("t3", f"c{n}", "CONSUMER", "g-other", "Ping", parent="c1") for n in range(2, 7)],
]


def test_the_fullest_order_flow_is_chosen_then_any_flow() -> None:
    assert pick_flow(SPANS) == "e-big"
    assert pick_flow(SPANS, None) == "g-other"
    assert pick_flow(SPANS, "Nope") is None


def test_a_flow_is_its_trace_without_the_aws_calls_found_by_a_unique_prefix() -> None:
    assert [s["span_id"] for s in flow_of(SPANS, "f-ch")] == ["b1", "b2", "b3"]
    assert flow_of(SPANS, "e-") == []  # two flows: ambiguous
    assert flow_of(SPANS, "nothing") == []


def test_bus_trace_prints_the_tree_or_says_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_text("not json\n" + "".join(json.dumps(s) + "\n" for s in SPANS))
    assert len(load_spans(path)) == len(SPANS)
    with pytest.raises(SystemExit) as exited:
        main(["trace", "f-child", "--file", str(path)])
    assert exited.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["OrderPlaced e-big", "trace t2"]
    assert [line.split("  +")[0] for line in lines[2:]] == [
        "└── OrderPlaced → ?",
        "    └── billing: handled, attempt 2",
        "        └── PaymentCaptured → orders",
    ]
    with pytest.raises(SystemExit) as exited:
        main(["trace", "e-", "--file", str(path)])
    assert exited.value.code == 1
    assert "no recorded flow of event e-" in capsys.readouterr().err


def test_lines_that_are_not_span_records_are_skipped_whatever_they_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "traces.jsonl"
    broken = [
        {**SPANS[0], "attributes": "not a mapping"},
        {**SPANS[0], "start": "soon"},
        {**SPANS[0], "events": [{"name": "retry", "attributes": ["x"]}]},
        {**SPANS[0], "events": "none"},
        {**SPANS[0], "span_id": 7},
    ]
    lines = [json.dumps(s).encode() for s in [*broken, *SPANS]]
    path.write_bytes(b"\xff\xfe not UTF-8\n" + b"\n".join(lines) + b"\n")
    assert load_spans(path) == SPANS
    with pytest.raises(SystemExit) as exited:
        main(["trace", "f-child", "--file", str(path)])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("OrderPlaced e-big\n")


def test_bus_trace_on_a_folder_says_it_cannot_read_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["trace", "e-big", "--file", str(tmp_path)])
    assert exited.value.code == 1
    assert capsys.readouterr().err.strip() == f"error: cannot read {tmp_path}: Is a directory"
