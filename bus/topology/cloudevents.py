"""Warnings about the CloudEvents ``source`` and ``type`` of the topology's events (pure).

``advise`` (printed by ``bus validate``, which still succeeds): a rule's pattern names a ``source``
or ``detail-type`` that no declared event has, so it can only match events from producers outside
the topology (or, after a ``cloudevents.type_prefix`` or ``source`` change, none). The errors
(EventBridge's limits on ``Source`` and ``DetailType``) are in ``bus.topology.check``.
"""

from __future__ import annotations

from pathlib import Path

from bus.errors import Problem
from bus.topology.check import Finding
from bus.topology.document import parse_document
from bus.topology.model import Topology


def source_of(topology: Topology, event: str) -> str:
    declared = topology.events[event]
    return declared.source or topology.cloudevents.source or topology.name


def advise(topology: Topology) -> list[Finding]:
    """Warnings: rule patterns naming a source or detail-type no declared event has."""
    sources = {source_of(topology, name) for name in topology.events}
    types = {topology.cloudevents.type_prefix + name for name in topology.events}
    out: list[Finding] = []
    for rule_name, rule in topology.rules.items():
        for key, declared, what in (("source", sources, "source"), ("detail-type", types, "type")):
            values = rule.event_pattern.get(key)
            if not isinstance(values, list):
                continue
            for i, value in enumerate(values):
                if isinstance(value, str) and value not in declared:
                    known = ", ".join(sorted(declared)) or "none"
                    out.append(
                        Finding(
                            ("rules", rule_name, "event_pattern", key, i),
                            f"no declared event has the {what} {value!r} (declared: {known}); "
                            "the rule matches only events of other producers",
                        )
                    )
    return out


def warnings_of(path: Path, topology: Topology) -> list[Problem]:
    """``advise``'s findings at their ``FILE:LINE:COL`` in the topology file (already loaded)."""
    findings = advise(topology)
    if not findings:
        return []
    doc = parse_document(Path(path).read_text(encoding="utf-8"), str(path))
    return sorted(doc.problem(f.path, f"warning: {f.message}") for f in findings)
