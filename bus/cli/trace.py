"""``bus trace EVENT_ID``: the recorded flow of an event as a tree, from the spans ``bus up`` wrote.

::

    OrderPlaced 4c730335-e969-4967-aebf-687e793729f5
    trace 17798167a674465766cbd94d1f0f5b9a
    └── OrderPlaced → orders,shop-events  +0 ms (24.6 ms)
        ├── billing: handled  +23 ms (29.2 ms)
        │   └── PaymentCaptured → orders  +32 ms (10.3 ms)
        │       └── shipping: handled  +48 ms (1.2 ms)
        ...

Pure reading of the JSON lines ``bus.otel.record`` writes: no OpenTelemetry needed. The span tree
is the flow: each handler's ``process`` span under the ``publish`` span of the event it handled,
the events it published under it. The AWS calls (``send`` spans) are left out.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.tree import Tree

from bus.cli.output import err, out
from bus.middleware.consume import ConsumeMiddleware
from bus.middleware.publish import PublishMiddleware

TRACES_FILE = Path(".bus") / "traces.jsonl"
"""Where ``bus up`` records the spans of its sample traffic (relative to the project)."""

Span = dict[str, Any]


def load_spans(path: Path) -> list[Span]:
    """The spans recorded in ``path``; lines that are not span records (not JSON, not UTF-8, or
    not shaped as ``bus.otel.record`` writes them) are skipped."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        return [span for line in lines if (span := _span(line)) is not None]


_SHAPE: dict[str, type | tuple[type, ...]] = {
    "span_id": str,
    "trace_id": str,
    "parent_id": (str, type(None)),
    "kind": (str, type(None)),
    "start": (int, type(None)),
    "end": (int, type(None)),
    "attributes": (dict, type(None)),
    "events": (list, type(None)),
}


def _span(line: str) -> Span | None:
    """The span record on ``line``, if it is one."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not (record.get("span_id") and record.get("trace_id")):
        return None
    if not all(isinstance(record.get(key), kinds) for key, kinds in _SHAPE.items()):
        return None
    events = record.get("events") or []
    if not all(
        isinstance(e, dict) and isinstance(e.get("attributes"), dict | None) for e in events
    ):
        return None
    return record


def _attr(span: Span, name: str) -> Any:
    return (span.get("attributes") or {}).get(name)


def flow_of(spans: Iterable[Span], event_id: str) -> list[Span]:
    """The spans of the trace ``event_id`` (or an unambiguous prefix of it) was published or
    handled in, without the AWS calls; empty if it was not recorded."""
    spans = list(spans)
    traces = {
        s["trace_id"] for s in spans if str(_attr(s, "bus.event.id") or "").startswith(event_id)
    }
    if len(traces) != 1:
        return []
    (trace_id,) = traces
    return [s for s in spans if s["trace_id"] == trace_id and s.get("kind") != "CLIENT"]


def pick_flow(spans: Sequence[Span], event_type: str | None = "OrderPlaced") -> str | None:
    """The event id of the ``event_type`` (None: any type) published outside any flow whose
    recorded flow has the most spans (the first such, when several tie): the fullest story."""
    size: dict[str, int] = defaultdict(int)
    for span in spans:
        size[span["trace_id"]] += 1
    best: tuple[int, int] | None = None
    chosen: str | None = None
    for span in spans:
        if span.get("kind") != "PRODUCER":
            continue
        if event_type is not None and _attr(span, "bus.event.type") != event_type:
            continue
        if span.get("parent_id"):
            continue
        rank = (size[span["trace_id"]], -int(span.get("start") or 0))
        if best is None or rank > best:
            best, chosen = rank, str(_attr(span, "bus.event.id"))
    return chosen


def label(span: Span) -> str:
    """One line for a span: what happened, where, how it ended."""
    kind = span.get("kind")
    event_type = _attr(span, "bus.event.type") or "?"
    if kind == "PRODUCER":
        text = f"{event_type} → {_attr(span, 'messaging.destination.name') or '?'}"
        if span.get("status") == "ERROR":
            text += " [not sent]"
        return text
    if kind == "CONSUMER":
        text = f"{_attr(span, 'messaging.destination.name')}: {_attr(span, 'bus.outcome')}"
        reason = _attr(span, "bus.outcome.reason")
        if reason and _attr(span, "bus.outcome") != "handled":
            text += f" ({reason})"
        attempt = _attr(span, "bus.attempt")
        return text + (f", attempt {attempt}" if attempt and attempt != 1 else "")
    return str(span.get("name"))


def _times(span: Span, zero: int) -> str:
    start, end = int(span.get("start") or 0), int(span.get("end") or 0)
    return f"+{(start - zero) / 1e6:.0f} ms ({(end - start) / 1e6:.1f} ms)"


def _notes(span: Span) -> list[str]:
    notes = []
    for event in span.get("events") or []:
        name, attributes = event.get("name"), event.get("attributes") or {}
        if name == "retry":
            notes.append(f"retried in process (try {attributes.get('bus.try')} failed)")
        elif name == "redeliver":
            notes.append(
                f"redelivered later: {attributes.get('error.type') or attributes.get('reason')}"
            )
        elif name == "dead-letter":
            where = "moved to the DLQ" if attributes.get("moved") else "not moved (no DLQ)"
            notes.append(f"dead-lettered ({attributes.get('reason')}): {where}")
    return notes


def flow_tree(spans: Sequence[Span], event_id: str) -> Tree | None:
    """The flow of ``event_id`` as a rich Tree; None if it was not recorded."""
    flow = flow_of(spans, event_id)
    if not flow:
        return None
    ids = {s["span_id"] for s in flow}
    children: dict[str | None, list[Span]] = defaultdict(list)
    for span in flow:
        parent = span.get("parent_id")
        children[parent if parent in ids else None].append(span)
    zero = min(int(s.get("start") or 0) for s in flow)
    root_event = min(children[None], key=lambda s: int(s.get("start") or 0))
    tree = Tree(
        f"{_attr(root_event, 'bus.event.type')} {_attr(root_event, 'bus.event.id')}\n"
        f"trace {flow[0]['trace_id']}"
    )

    def grow(branch: Tree, parent: str | None) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: int(s.get("start") or 0)):
            node = branch.add(f"{label(span)}  {_times(span, zero)}")
            for note in _notes(span):
                node.add(note)
            grow(node, span["span_id"])

    grow(tree, None)
    return tree


def print_flow(path: Path, event_id: str | None = None) -> bool:
    """Print the recorded flow of ``event_id`` (None: the fullest OrderPlaced, else the fullest
    flow); False if there is none."""
    if not path.exists():
        return False
    spans = load_spans(path)
    chosen = event_id or pick_flow(spans) or pick_flow(spans, None)
    tree = flow_tree(spans, chosen) if chosen else None
    if tree is None:
        return False
    out.print(tree, markup=False, emoji=False, highlight=False)
    return True


def trace(
    event_id: Annotated[str, typer.Argument(help="The event's id (or a unique prefix of it).")],
    file: Annotated[
        Path, typer.Option("--file", help="The spans recorded by bus up (JSON lines).")
    ] = TRACES_FILE,
) -> None:
    """Print the recorded flow of an event as a tree: who published it, which handlers took it,
    what they published in turn, with times and outcomes (from the spans bus up records)."""
    if not file.exists():
        err.print(f"error: {file} does not exist: bus up records traces there", markup=False)
        raise typer.Exit(1)
    try:
        shown = print_flow(file, event_id)
    except OSError as exc:  # a folder, a file it may not read
        err.print(f"error: cannot read {file}: {exc.strerror}", markup=False)
        raise typer.Exit(1) from None
    if not shown:
        err.print(f"error: no recorded flow of event {event_id} in {file}", markup=False)
        raise typer.Exit(1)


Middlewares = tuple[Sequence[ConsumeMiddleware], Sequence[PublishMiddleware]]


@contextmanager
def recording_traces(path: Path | None) -> Iterator[Middlewares]:
    """The consume and publish middlewares that record traces to ``path`` while the block runs
    (none when ``path`` is None, or when the ``otel`` extra is not installed: it says so)."""
    if path is None:
        yield (), ()
        return
    try:
        from bus.otel import instrumentation
        from bus.otel.record import recording
    except ImportError as exc:
        err.print(f"no traces recorded ({exc.name} is missing): pip install 'bus-framework[otel]'")
        yield (), ()
        return
    with recording(path) as provider:
        otel = instrumentation(tracer_provider=provider)
        yield otel.consume, otel.publish
