"""Semantic checks of a ``Topology`` (pure): what the model alone cannot see.

AWS naming rules on the physical names, FIFO consistency (``check_fifo``), references between
declarations and dead-letter rules (``check_refs``), duplicates, rule targets (id length,
JSONPaths), event routing attributes, the EventBridge ``Source`` and ``DetailType`` of events sent
to a bus, filter policy and event pattern syntax (and a scope with no policy), tag limits, and
alarms (``alarms``). Each ``Finding`` names the path of the offending declaration (``("queues",
"billing", "dead_letter")``); ``bus.topology.load`` turns paths into ``FILE:LINE:COL``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

from bus.topology.check_fifo import fifo_attributes, fifo_routes, fifo_suffix
from bus.topology.check_refs import dead_letters, derived_dlq, references
from bus.topology.finding import Finding
from bus.topology.model import DEFAULT_BUS, FIFO_SUFFIX, Topology, ownership_tags, physical_name
from bus.topology.patterns import KeyPath, check_event_pattern, check_filter_policy

__all__ = ["QUEUE_NAME", "RULE_NAME", "Finding", "NameRule", "check_topology"]

RESERVED_ATTRIBUTES = frozenset({"event_type", "event_version"})
"""Message attributes bus sets on every message (docs/envelope.md)."""
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_DETAIL_TYPE = 128
"""EventBridge's limit on an entry's ``DetailType`` (the event's prefixed type)."""
_SOURCE_START = re.compile(r"[/.\-_A-Za-z0-9]")
"""PutEvents ``Source``: its first character (and never ``aws.``)."""
MAX_TARGET_ID = 64
"""EventBridge's limit on a target's ``Id``."""
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_JSON_PATH = re.compile(r"\$(?:[.\[]\S*)?")
"""What EventBridge takes as a JSONPath: ``$``, or ``$`` followed by ``.`` or ``[`` and no spaces."""


@dataclass(frozen=True)
class NameRule:
    """An AWS naming rule: length, allowed characters, and whether ``.fifo`` may end the name."""

    kind: str
    max_length: int
    allowed: str
    """The characters allowed, as the body of a regular expression character class."""
    allowed_text: str
    fifo_suffix: bool = False

    def problems(self, name: str) -> list[str]:
        stem = name.removesuffix(FIFO_SUFFIX) if self.fifo_suffix else name
        out = []
        if not 1 <= len(name) <= self.max_length:
            out.append(f"is {len(name)} characters long; the limit is {self.max_length}")
        bad = sorted(set(re.sub(f"[{self.allowed}]", "", stem)))
        if bad:
            suffix = " (plus a .fifo suffix)" if self.fifo_suffix else ""
            shown = " ".join(repr(c) for c in bad)
            out.append(f"contains {shown}; use only {self.allowed_text}{suffix}")
        return out


QUEUE_NAME = NameRule("SQS queue", 80, r"A-Za-z0-9_\-", "letters, digits, '-' and '_'", True)
TOPIC_NAME = NameRule("SNS topic", 256, r"A-Za-z0-9_\-", "letters, digits, '-' and '_'", True)
BUS_NAME = NameRule("EventBridge bus", 256, r"A-Za-z0-9._\-", "letters, digits, '.', '-' and '_'")
"""CreateEventBus: custom bus names cannot contain '/' (only partner event buses may)."""
RULE_NAME = NameRule("EventBridge rule", 64, r"A-Za-z0-9._\-", "letters, digits, '.', '-' and '_'")


def check_topology(topology: Topology, env: str | None = None) -> list[Finding]:
    """Every semantic problem of ``topology`` deployed with environment prefix ``env``."""
    checks = (
        _names,
        fifo_attributes,
        fifo_routes,
        references,
        dead_letters,
        _duplicates,
        _targets,
        _events,
        _cloudevents,
        _patterns,
        _tags,
        _alarms,
        _mappings,
        _claim_check,
    )
    return [finding for check in checks for finding in check(topology, env)]


# -- names ----------------------------------------------------------------------------------------


def _names(t: Topology, env: str | None) -> Iterator[Finding]:
    for name, topic in t.topics.items():
        yield from _name(("topics", name), TOPIC_NAME, name, env)
        yield from fifo_suffix(("topics", name), "topic", name, topic.fifo)
    for name, queue in t.queues.items():
        yield from _name(("queues", name), QUEUE_NAME, name, env)
        yield from fifo_suffix(("queues", name), "queue", name, queue.fifo)
        dlq = derived_dlq(t, name)
        if dlq is not None:
            for problem in QUEUE_NAME.problems(physical_name(dlq, env)):
                yield Finding(
                    ("queues", name, "dead_letter"),
                    f"the derived dead-letter queue name {physical_name(dlq, env)!r}"
                    f"{_env_note(env)} {problem}; name a shorter dead_letter.queue",
                )
    for name in t.buses:
        path = ("buses", name)
        if name == DEFAULT_BUS:
            yield Finding(path, "the default bus exists in every account; do not declare it")
            continue
        yield from _name(path, BUS_NAME, name, env)
        if physical_name(name, env).startswith("aws."):
            yield Finding(path, "EventBridge bus names cannot start with 'aws.'")
    for name in t.rules:
        yield from _name(("rules", name), RULE_NAME, name, env)


def _name(path: KeyPath, rule: NameRule, logical: str, env: str | None) -> Iterator[Finding]:
    physical = physical_name(logical, env)
    for problem in rule.problems(physical):
        yield Finding(path, f"{rule.kind} name {physical!r}{_env_note(env)} {problem}")


def _env_note(env: str | None) -> str:
    return f" (with env {env!r})" if env else ""


# -- duplicates -----------------------------------------------------------------------------------


def _duplicates(t: Topology, env: str | None) -> Iterator[Finding]:
    seen: dict[tuple[str, str], int] = {}
    for i, sub in enumerate(t.subscriptions):
        first = seen.setdefault((sub.topic, sub.queue), i)
        if first != i:
            yield Finding(
                ("subscriptions", i),
                f"queue {sub.queue!r} is subscribed to topic {sub.topic!r} twice "
                f"(first at subscriptions[{first}])",
            )
    for name, rule in t.rules.items():
        ids: dict[str, int] = {}
        for j, target in enumerate(rule.targets):
            first = ids.setdefault(target.target_id, j)
            if first != j:
                yield Finding(
                    ("rules", name, "targets", j),
                    f"target id {target.target_id!r} is used twice in this rule (first at "
                    f"targets[{first}]); give one of them an explicit id",
                )


# -- rule targets ---------------------------------------------------------------------------------


def _targets(t: Topology, env: str | None) -> Iterator[Finding]:
    for name, rule in t.rules.items():
        for j, target in enumerate(rule.targets):
            path: KeyPath = ("rules", name, "targets", j)
            if target.id is None and len(target.target_id) > MAX_TARGET_ID:
                yield Finding(
                    path,
                    f"the target id defaults to the queue's name {target.target_id!r}, which is "
                    f"{len(target.target_id)} characters long; EventBridge target ids have at "
                    f"most {MAX_TARGET_ID}: set id",
                )
            if target.input_path is not None:
                yield from _json_path((*path, "input_path"), target.input_path)
            if target.input_transformer is not None:
                base = (*path, "input_transformer", "input_paths_map")
                for key, value in target.input_transformer.input_paths_map.items():
                    yield from _json_path((*base, key), value)


def _json_path(path: KeyPath, value: str) -> Iterator[Finding]:
    if not _JSON_PATH.fullmatch(value):
        yield Finding(path, f"must be a JSONPath starting with '$' (like $.detail), got {value!r}")


# -- events ---------------------------------------------------------------------------------------


def _events(t: Topology, env: str | None) -> Iterator[Finding]:
    queues = t.all_queues()
    for name, event in t.events.items():
        path = ("events", name)
        seen: set[str] = set()
        for k, attribute in enumerate(event.attributes):
            yield from _attribute((*path, "attributes", k), attribute, seen)
            seen.add(attribute)
        if event.message_group_id is not None and not _IDENTIFIER.fullmatch(event.message_group_id):
            yield Finding(
                (*path, "message_group_id"),
                f"{event.message_group_id!r} must name a field of the event's model "
                "(letters, digits and '_', not starting with a digit)",
            )
        for k, dest in enumerate(event.publish_to):
            fifo = (
                dest.topic is not None and getattr(t.topics.get(dest.topic), "fifo", False)
            ) or (dest.queue is not None and getattr(queues.get(dest.queue), "fifo", False))
            if fifo and event.message_group_id is None:
                target = dest.topic or dest.queue
                section = "topics" if dest.topic else "queues"
                yield Finding(
                    (*path, "publish_to", k),
                    f"publishes to FIFO {section[:-1]} {target!r}: set message_group_id to the "
                    "model field whose value groups the messages",
                    ((section, target or "", "fifo"),),
                )
        for version in event.previous_versions:
            if version >= event.version:
                yield Finding(
                    (*path, "previous_versions", version),
                    f"previous version {version} is not older than version {event.version}",
                    ((*path, "version"),),
                )


def _cloudevents(t: Topology, env: str | None) -> Iterator[Finding]:
    """Events sent to EventBridge: a ``Source`` it accepts, a ``DetailType`` of at most 128."""
    prefix = t.cloudevents.type_prefix
    for name, event in t.events.items():
        if not any(d.bus is not None for d in event.publish_to):
            continue
        source = event.source or t.cloudevents.source or t.name
        where = ("cloudevents", "source") if t.cloudevents.source else ("name",)
        if source.startswith("aws.") or not _SOURCE_START.match(source):
            yield Finding(
                ("events", name, "source") if event.source else where,
                f"event {name} goes to an EventBridge bus, whose Source {source!r} may not start "
                "with 'aws.' and must start with a letter, digit, '/', '.', '-' or '_'",
            )
        if len(prefix + name) > MAX_DETAIL_TYPE:
            yield Finding(
                ("cloudevents", "type_prefix"),
                f"event {name} goes to an EventBridge bus: its type {prefix + name!r} is "
                f"{len(prefix + name)} characters; EventBridge's DetailType takes at most "
                f"{MAX_DETAIL_TYPE}",
            )


def _attribute(path: KeyPath, attribute: str, seen: set[str]) -> Iterator[Finding]:
    if attribute in RESERVED_ATTRIBUTES:
        yield Finding(path, f"{attribute!r} is reserved: bus sends it with every message")
    elif not _IDENTIFIER.fullmatch(attribute):
        yield Finding(
            path,
            f"attribute {attribute!r} must name a field of the event's model "
            "(letters, digits and '_', not starting with a digit)",
        )
    elif attribute in seen:
        yield Finding(path, f"attribute {attribute!r} is listed twice")


# -- patterns and tags ----------------------------------------------------------------------------


def _patterns(t: Topology, env: str | None) -> Iterator[Finding]:
    for name, rule in t.rules.items():
        base: KeyPath = ("rules", name, "event_pattern")
        for issue in check_event_pattern(rule.event_pattern):
            yield Finding((*base, *issue.path), issue.message)
    for i, sub in enumerate(t.subscriptions):
        if sub.filter_policy is None:
            if "filter_policy_scope" in sub.model_fields_set:
                yield Finding(
                    ("subscriptions", i, "filter_policy_scope"),
                    "filter_policy_scope without a filter_policy has no effect: "
                    "add a filter_policy or remove filter_policy_scope",
                )
            continue
        base = ("subscriptions", i, "filter_policy")
        for issue in check_filter_policy(sub.filter_policy, sub.filter_policy_scope):
            yield Finding(
                (*base, *issue.path), issue.message, (("subscriptions", i, "filter_policy_scope"),)
            )


def _tags(t: Topology, env: str | None) -> Iterator[Finding]:
    reserved = set(ownership_tags(t, env))
    sections: list[tuple[str, Mapping[str, Mapping[str, str]]]] = [
        ("topics", {n: x.tags for n, x in t.topics.items()}),
        ("queues", {n: x.tags for n, x in t.queues.items()}),
        ("buses", {n: x.tags for n, x in t.buses.items()}),
        ("rules", {n: x.tags for n, x in t.rules.items()}),
    ]
    for section, tagged in sections:
        for name, tags in tagged.items():
            path = (section, name, "tags")
            if len(tags) + len(reserved) > MAX_TAGS:
                yield Finding(
                    path,
                    f"{len(tags)} tags plus bus's {len(reserved)} ownership tags exceed AWS's "
                    f"limit of {MAX_TAGS}",
                )
            for key, value in tags.items():
                yield from _tag((*path, key), key, value, reserved)


def _mappings(t: Topology, env: str | None) -> Iterator[Finding]:
    from bus.topology.mappings import check_mappings  # it builds on this module

    yield from check_mappings(t, env)


def _alarms(t: Topology, env: str | None) -> Iterator[Finding]:
    from bus.topology.alarms import check_alarms  # it builds on this module

    yield from check_alarms(t, env)


def _claim_check(t: Topology, env: str | None) -> Iterator[Finding]:
    from bus.topology.claims import check_claim_check  # it builds on this module

    yield from check_claim_check(t, env)


def _tag(path: KeyPath, key: str, value: str, reserved: Collection[str]) -> Iterator[Finding]:
    if not 1 <= len(key) <= MAX_TAG_KEY:
        yield Finding(path, f"tag keys have 1-{MAX_TAG_KEY} characters, this one has {len(key)}")
    if key.lower().startswith("aws:"):
        yield Finding(path, "tag keys starting with 'aws:' are reserved for AWS")
    if key in reserved:
        yield Finding(path, f"tag {key!r} is set by bus to mark the resources it owns")
    if len(value) > MAX_TAG_VALUE:
        yield Finding(
            path, f"tag values have at most {MAX_TAG_VALUE} characters, this one has {len(value)}"
        )
