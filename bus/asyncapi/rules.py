"""EventBridge rules in words: what each rule's pattern matches and the event shape it expects.

EventBridge drops an event no rule matches without telling its producer, so the document (and
``bus docs``) states for each rule the shape its pattern expects: the EventBridge fields it tests,
and the bus envelope as ``detail`` (a pattern on ``detail.data.<field>`` never matches bare data).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bus.asyncapi.bindings import Doc
from bus.asyncapi.routes import EVENTBRIDGE, Message, ordered, rule_events, target_form, versions
from bus.schema.registry import Registry
from bus.topology.model import Topology, physical_name


def _value(value: Any) -> str:
    if isinstance(value, Mapping) and len(value) == 1:
        (op, arg), *_ = value.items()
        if op == "numeric" and isinstance(arg, list):
            return "numeric " + " ".join(str(a) for a in arg)
        if op == "exists":
            return "exists" if arg else "does not exist"
        return f"{op} {json.dumps(arg, ensure_ascii=False)}"
    return json.dumps(value, ensure_ascii=False)


def describe_pattern(pattern: Mapping[str, Any], path: str = "") -> list[str]:
    """One line per tested field: ``detail.data.total_cents: numeric >= 100000``."""
    lines: list[str] = []
    for key, value in pattern.items():
        where = f"{path}.{key}" if path else str(key)
        if key == "$or" and isinstance(value, list):
            options = [
                "; ".join(describe_pattern(alt, path)) for alt in value if isinstance(alt, Mapping)
            ]
            lines.append("any of: " + " | ".join(f"({o})" for o in options))
        elif isinstance(value, Mapping):
            lines.extend(describe_pattern(value, where))
        elif isinstance(value, list):
            lines.append(f"{where}: " + " or ".join(_value(v) for v in value))
        else:
            lines.append(f"{where}: {_value(value)}")
    return lines


def _tests_data(pattern: Mapping[str, Any]) -> bool:
    detail = pattern.get("detail")
    return isinstance(detail, Mapping) and "data" in detail


def expects(topology: Topology, registry: Registry, rule_name: str) -> str:
    """The event shape the rule's pattern expects, in one paragraph."""
    rule = topology.rules[rule_name]
    tested = "; ".join(describe_pattern(rule.event_pattern)) or "every event"
    specs = rule_events(topology, registry, rule_name)
    if specs:
        shapes = ", ".join(
            f"{s.name} v{s.version} (#/components/schemas/{s.name}.v{s.version}.envelope)"
            for s in specs
        )
        shape = (
            f"Expects EventBridge events whose Source is the envelope's source, DetailType its "
            f"type and Detail the whole bus envelope (CloudEvents, docs/envelope.md) of {shapes}"
        )
    else:
        shape = "Matches none of the declared event types published to its bus"
    caveat = (
        "; bare event data as Detail has no detail.data and never matches"
        if _tests_data(rule.event_pattern)
        else ""
    )
    return f"{shape}{caveat}. Pattern: {tested}."


def rule_doc(topology: Topology, registry: Registry, rule_name: str, env: str | None) -> Doc:
    """The rule, as the ``x-eventbridge-rules`` entry of its bus channel."""
    rule = topology.rules[rule_name]
    matched: list[Message] = [
        m
        for s in rule_events(topology, registry, rule_name)
        for m in versions(registry, s.name, EVENTBRIDGE)
    ]
    targets = []
    for target in rule.targets:
        entry: Doc = {
            "queue": physical_name(target.queue, env),
            "channel": {"$ref": f"#/channels/queue.{target.queue}"},
            "delivers": target_form(target),
        }
        if target.input_path is not None:
            entry["inputPath"] = target.input_path
        if target.input_transformer is not None:
            entry["inputTransformer"] = target.input_transformer.model_dump(mode="json")
        if target.dead_letter_queue is not None:
            entry["deadLetterQueue"] = physical_name(target.dead_letter_queue, env)
        if target.retry_policy is not None:
            entry["retryPolicy"] = target.retry_policy.model_dump(mode="json")
        targets.append(entry)
    out: Doc = {"name": physical_name(rule_name, env), "state": rule.state}
    if rule.description:
        out["description"] = rule.description
    out["expects"] = expects(topology, registry, rule_name)
    out["eventPattern"] = rule.event_pattern
    out["messages"] = [{"$ref": f"#/components/messages/{m.id}"} for m in ordered(matched)]
    out["targets"] = targets
    return out
