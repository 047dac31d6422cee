"""The topology as a picture: Mermaid or Graphviz DOT (pure).

``build`` turns a ``Topology`` into nodes (topics, queues, buses, rules) and edges (subscriptions
labelled with a summary of their filter policy, bus -> rule, rule -> target, and dashed edges to
dead-letter queues), CloudWatch alarms (``bus.topology.alarms``) with dashed edges from what
they watch, and DynamoDB idempotency tables (``bus.topology.idempotency_tables``) with dashed edges
from the queues whose handled event ids they keep; ``mermaid`` and ``dot`` print it. With an environment the labels show the
physical names (``dev-orders``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from bus.topology.alarms import alarm_graph
from bus.topology.claims import claim_graph
from bus.topology.idempotency_tables import table_graph
from bus.topology.mappings import mapping_graph
from bus.topology.model import DEFAULT_BUS, Topology, physical_name

NodeKind = Literal["topic", "queue", "bus", "rule", "alarm", "table", "function", "bucket"]
Format = Literal["mermaid", "dot"]
FORMATS: tuple[Format, ...] = ("mermaid", "dot")
UNDELIVERABLE = "undeliverable"


@dataclass(frozen=True)
class Node:
    id: str
    kind: NodeKind
    label: str
    detail: str = ""


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str = ""
    dashed: bool = False


@dataclass
class Graph:
    name: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


class _Ids:
    """Readable node ids (``queue_billing``), kept distinct when two names sanitise alike."""

    def __init__(self) -> None:
        self._ids: dict[tuple[NodeKind, str], str] = {}

    def __call__(self, kind: NodeKind, name: str) -> str:
        key = (kind, name)
        if key not in self._ids:
            base = f"{kind}_{re.sub(r'[^A-Za-z0-9]+', '_', name).strip('_')}"
            taken = set(self._ids.values())
            ident, n = base, 1
            while ident in taken:
                n += 1
                ident = f"{base}_{n}"
            self._ids[key] = ident
        return self._ids[key]


def build(topology: Topology, env: str | None = None) -> Graph:
    """Nodes and edges of ``topology``; labels use physical names when ``env`` is given."""
    graph = Graph(name=topology.name)
    ids = _Ids()

    def add(kind: NodeKind, name: str, detail: str = "") -> None:
        label = name if kind == "bus" and name == DEFAULT_BUS else physical_name(name, env)
        graph.nodes.append(Node(ids(kind, name), kind, label, detail))

    for name in topology.buses:
        add("bus", name)
    if any(r.bus not in topology.buses for r in topology.rules.values()):
        add("bus", DEFAULT_BUS)
    for name in topology.topics:
        add("topic", name)
    for name, rule in topology.rules.items():
        add("rule", name, summarise(rule.event_pattern))
    for name in topology.all_queues():
        add("queue", name)
    graph.edges += _edges(topology, ids)
    alarm_nodes, alarm_edges = alarm_graph(topology, env, ids)
    graph.nodes += [Node(ident, "alarm", label, detail) for ident, label, detail in alarm_nodes]
    graph.edges += [
        Edge(source, target, label, dashed=True) for source, target, label in alarm_edges
    ]
    table_nodes, table_edges = table_graph(topology, env, ids)
    graph.nodes += [Node(ident, "table", label, detail) for ident, label, detail in table_nodes]
    graph.edges += [Edge(s, t, label, dashed=True) for s, t, label in table_edges]
    function_nodes, function_edges = mapping_graph(topology, ids)
    graph.nodes += [Node(ident, "function", label, kind) for ident, label, kind in function_nodes]
    graph.edges += [Edge(source, target, label) for source, target, label in function_edges]
    bucket_nodes, bucket_edges = claim_graph(topology, env, ids)
    graph.nodes += [Node(ident, "bucket", label, detail) for ident, label, detail in bucket_nodes]
    graph.edges += [Edge(s, t, label, dashed=True) for s, t, label in bucket_edges]
    return graph


def _edges(topology: Topology, ids: _Ids) -> Iterator[Edge]:
    for sub in topology.subscriptions:
        label = summarise(sub.filter_policy) if sub.filter_policy else ""
        if label and sub.filter_policy_scope == "MessageBody":
            label = f"body {label}"
        yield Edge(ids("topic", sub.topic), ids("queue", sub.queue), label)
        if sub.dead_letter_queue:
            yield Edge(ids("topic", sub.topic), ids("queue", sub.dead_letter_queue),
                       UNDELIVERABLE, dashed=True)  # fmt: skip
    for name, rule in topology.rules.items():
        rule_id = ids("rule", name)
        yield Edge(ids("bus", rule.bus), rule_id)
        for target in rule.targets:
            label = ""
            if target.input_path:
                label = f"input {target.input_path}"
            elif target.input_transformer:
                label = "input transformed"
            yield Edge(rule_id, ids("queue", target.queue), label)
            if target.dead_letter_queue:
                yield Edge(rule_id, ids("queue", target.dead_letter_queue), UNDELIVERABLE,
                           dashed=True)  # fmt: skip
    for name in topology.queues:
        dead_letter = topology.dead_letter_of(name)
        if dead_letter:
            yield Edge(ids("queue", name), ids("queue", dead_letter[0]),
                       f"after {dead_letter[1]} receives", dashed=True)  # fmt: skip


# -- filter policy / event pattern summaries ------------------------------------------------------


def summarise(pattern: dict[str, Any]) -> str:
    """A compact one-line reading of a filter policy or event pattern."""
    return "; ".join(_clauses(pattern, ""))


def _clauses(pattern: dict[str, Any], prefix: str) -> Iterator[str]:
    for key, value in pattern.items():
        if key == "$or" and isinstance(value, list):
            yield " or ".join(f"({summarise(v)})" for v in value if isinstance(v, dict))
        elif isinstance(value, dict):
            yield from _clauses(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}{_matchers(value)}"


def _matchers(value: Any) -> str:
    values = value if isinstance(value, list) else [value]
    numeric = [v for v in values if isinstance(v, dict) and "numeric" in v]
    if numeric and len(numeric) == len(values):
        return " " + " or ".join(_numeric(v["numeric"]) for v in numeric)
    return ": " + ", ".join(_matcher(v) for v in values)


def _numeric(ops: list[Any]) -> str:
    return " ".join(str(op) for op in ops)


def _matcher(value: Any) -> str:
    if not isinstance(value, dict) or len(value) != 1:
        return value if isinstance(value, str) else json.dumps(value)
    (op, arg), = value.items()  # fmt: skip
    if op == "numeric" and isinstance(arg, list):
        return _numeric(arg)
    if op == "anything-but":
        inner = arg if isinstance(arg, list) else [arg]
        return "not " + "|".join(_matcher(v) for v in inner)
    if op == "exists":
        return "exists" if arg else "missing"
    return f"{op} {_matcher(arg)}"


# -- rendering ------------------------------------------------------------------------------------

_MERMAID_SHAPES: dict[NodeKind, tuple[str, str]] = {
    "topic": ("{{", "}}"),
    "queue": ("[", "]"),
    "bus": ("[[", "]]"),
    "rule": ("([", "])"),
    "alarm": (">", "]"),
    "table": ("[(", ")]"),
    "function": ("[/", "/]"),
    "bucket": ("[(", ")]"),
}
_DOT_SHAPES: dict[NodeKind, str] = {
    "topic": "shape=hexagon",
    "queue": "shape=box",
    "bus": "shape=box, peripheries=2",
    "rule": "shape=box, style=rounded",
    "alarm": "shape=note",
    "table": "shape=cylinder",
    "function": "shape=parallelogram",
    "bucket": "shape=cylinder",
}


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def mermaid(graph: Graph) -> str:
    """A Mermaid ``flowchart LR``: hexagons are topics, boxes queues, double boxes buses,
    rounded boxes rules; dashed edges lead to dead-letter queues."""
    lines = ["flowchart LR"]
    for node in graph.nodes:
        open_, close = _MERMAID_SHAPES[node.kind]
        text = _mermaid_text(node.label)
        if node.detail:
            text += "<br/>" + _mermaid_text(node.detail)
        lines.append(f'  {node.id}{open_}"{text}"{close}')
    for edge in graph.edges:
        arrow = "-.->" if edge.dashed else "-->"
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"  {edge.source} {arrow}{label} {edge.target}")
    return "\n".join(lines) + "\n"


def _dot_text(*lines: str) -> str:
    """A quoted DOT string; several lines are joined with DOT's ``\\n``."""
    escaped = (line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)
    return '"' + "\\n".join(escaped) + '"'


def dot(graph: Graph) -> str:
    """A Graphviz ``digraph`` with the same shapes as the Mermaid rendering."""
    lines = [
        f"digraph {_dot_text(graph.name)} {{",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for node in graph.nodes:
        label = _dot_text(node.label, node.detail) if node.detail else _dot_text(node.label)
        lines.append(f"  {node.id} [label={label}, {_DOT_SHAPES[node.kind]}];")
    for edge in graph.edges:
        attrs = [f"label={_dot_text(edge.label)}"] if edge.label else []
        if edge.dashed:
            attrs.append("style=dashed")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"  {edge.source} -> {edge.target}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(topology: Topology, fmt: Format = "mermaid", env: str | None = None) -> str:
    graph = build(topology, env)
    return mermaid(graph) if fmt == "mermaid" else dot(graph)
