"""Which messages travel where: each channel's event types, versions and shapes of delivery.

Which events reach a queue is worked out from the subscriptions and rules, narrowed by the filters
bus can read statically (an ``event_type`` or ``type`` list in a filter policy, ``source`` and
``detail-type`` in a pattern).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bus.schema.registry import EventSpec, Registry
from bus.topology.model import Target, Topology

RAW, SNS, EVENTBRIDGE, DETAIL, TRANSFORMED = "raw", "sns", "eventbridge", "detail", "transformed"
FORMS = (RAW, SNS, EVENTBRIDGE, DETAIL, TRANSFORMED)


@dataclass(frozen=True)
class Message:
    """One message of the document: an event type's version in one shape of delivery."""

    event: str
    version: int
    form: str
    current: bool

    @property
    def id(self) -> str:
        version = "" if self.current else f".v{self.version}"
        form = "" if self.form == RAW else f".{self.form}"
        return f"{self.event}{version}{form}"

    @property
    def sort_key(self) -> tuple[str, int, int]:
        return self.event, -self.version, FORMS.index(self.form)


def ordered(messages: Iterable[Message]) -> list[Message]:
    return sorted(set(messages), key=lambda m: m.sort_key)


def events_to(registry: Registry, kind: str, name: str) -> list[str]:
    """The event types published to the topic, bus or queue ``name`` (``kind``)."""
    return [
        spec.name for spec in registry if any(getattr(d, kind) == name for d in spec.destinations)
    ]


def listed(policy: dict[str, Any] | None, key: str) -> set[str] | None:
    """The plain strings a filter lists under ``key``; ``None`` when it cannot narrow statically."""
    values = (policy or {}).get(key)
    if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
        return set(values)
    return None


def target_form(target: Target) -> str:
    if target.input_transformer is not None or target.input_path not in (None, "$", "$.detail"):
        return TRANSFORMED
    return DETAIL if target.input_path == "$.detail" else EVENTBRIDGE  # "$": the whole event


def rule_events(topology: Topology, registry: Registry, rule_name: str) -> list[EventSpec]:
    """The declared event types published to the rule's bus that its pattern can match."""
    rule = topology.rules[rule_name]
    types = listed(rule.event_pattern, "detail-type")
    sources = listed(rule.event_pattern, "source")
    return [
        spec
        for spec in (registry.spec(e) for e in events_to(registry, "bus", rule.bus))
        if (types is None or spec.cloudevents_type in types)
        and (sources is None or spec.source in sources)
    ]


def events_in_queue(topology: Topology, registry: Registry, queue: str) -> dict[str, set[str]]:
    """Each event type reaching ``queue``, with the shapes it arrives in."""
    found: dict[str, set[str]] = {}

    def add(event: str, form: str) -> None:
        found.setdefault(event, set()).add(form)

    for event in events_to(registry, "queue", queue):
        add(event, RAW)
    for sub in topology.subscriptions_of_queue(queue):
        key = "type" if sub.filter_policy_scope == "MessageBody" else "event_type"
        allowed = listed(sub.filter_policy, key)
        for event in events_to(registry, "topic", sub.topic):
            if allowed is None or registry.spec(event).cloudevents_type in allowed:
                add(event, RAW if sub.raw_message_delivery else SNS)
    for rule_name, target in topology.targets_of_queue(queue):
        for spec in rule_events(topology, registry, rule_name):
            add(spec.name, target_form(target))
    routes = {form for forms in found.values() for form in forms} or {RAW}
    for binding_queue, binding in topology.handlers.items():
        if binding_queue == queue:
            for event in binding.events:
                if event not in found:  # bound, but no route bus can see: any of the queue's
                    for form in routes:
                        add(event, form)
    return found


def versions(registry: Registry, event: str, form: str) -> list[Message]:
    """Every version of ``event`` still accepted on consume, newest first, in ``form``."""
    spec = registry.spec(event)
    older = [Message(event, p.version, form, False) for p in reversed(spec.previous_versions)]
    return [Message(event, spec.version, form, True), *older]
