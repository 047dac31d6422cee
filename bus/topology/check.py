"""Semantic checks of a ``Topology`` (pure): what the model alone cannot see.

AWS naming rules on the physical names, FIFO consistency, references between declarations, dead
letter rules, duplicates, rule targets (id length, JSONPaths), event routing attributes, the
EventBridge ``Source`` and ``DetailType`` of events sent to a bus, filter
policy and event pattern syntax (and a scope with no policy), and tag limits. Each ``Finding`` names the path of the offending declaration (``("queues",
"billing", "dead_letter")``); ``bus.topology.load`` turns paths into ``FILE:LINE:COL``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

from bus.topology.model import (
    DEFAULT_BUS,
    FIFO_SUFFIX,
    Queue,
    Topology,
    ownership_tags,
    physical_name,
)
from bus.topology.patterns import KeyPath, check_event_pattern, check_filter_policy

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
class Finding:
    """A semantic problem at ``path``. ``depends_on`` lists the other declarations it is about, so
    the loader can drop findings that only follow from a declaration already reported broken."""

    path: KeyPath
    message: str
    depends_on: tuple[KeyPath, ...] = ()


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
        _fifo_attributes,
        _fifo_routes,
        _references,
        _dead_letters,
        _duplicates,
        _targets,
        _events,
        _cloudevents,
        _patterns,
        _tags,
        _alarms,
        _claim_check,
    )
    return [finding for check in checks for finding in check(topology, env)]


# -- names ----------------------------------------------------------------------------------------


def _names(t: Topology, env: str | None) -> Iterator[Finding]:
    for name, topic in t.topics.items():
        yield from _name(("topics", name), TOPIC_NAME, name, env)
        yield from _fifo_suffix(("topics", name), "topic", name, topic.fifo)
    for name, queue in t.queues.items():
        yield from _name(("queues", name), QUEUE_NAME, name, env)
        yield from _fifo_suffix(("queues", name), "queue", name, queue.fifo)
        dlq = _derived_dlq(t, name)
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


def _fifo_suffix(path: KeyPath, kind: str, name: str, fifo: bool) -> Iterator[Finding]:
    depends = ((*path, "fifo"),)
    if fifo and not name.endswith(FIFO_SUFFIX):
        yield Finding(path, f"a FIFO {kind} name must end with .fifo", depends)
    elif not fifo and name.endswith(FIFO_SUFFIX):
        yield Finding(
            path, "the name ends with .fifo, so set fifo: true (or drop the suffix)", depends
        )


# -- FIFO -----------------------------------------------------------------------------------------


def _fifo_attributes(t: Topology, env: str | None) -> Iterator[Finding]:
    for name, topic in t.topics.items():
        if topic.content_based_deduplication and not topic.fifo:
            path = ("topics", name, "content_based_deduplication")
            yield Finding(
                path, "only FIFO topics deduplicate by content", (("topics", name, "fifo"),)
            )
    for name, queue in t.queues.items():
        if queue.fifo:
            continue
        for field in (
            "content_based_deduplication",
            "deduplication_scope",
            "fifo_throughput_limit",
        ):
            if getattr(queue, field):
                yield Finding(
                    ("queues", name, field),
                    f"{field} applies to FIFO queues only",
                    (("queues", name, "fifo"),),
                )


def _fifo_routes(t: Topology, env: str | None) -> Iterator[Finding]:
    queues = t.all_queues()
    for i, sub in enumerate(t.subscriptions):
        topic = t.topics.get(sub.topic)
        if topic is None:
            continue
        kind = "FIFO" if topic.fifo else "standard"
        for field in ("queue", "dead_letter_queue"):
            name = getattr(sub, field)
            queue = queues.get(name) if name else None
            if queue is not None and queue.fifo != topic.fifo:
                yield Finding(
                    ("subscriptions", i, field),
                    f"{kind} topic {sub.topic!r} can only deliver to {kind} queues; "
                    f"{name!r} is {_kind(queue)}",
                    (("topics", sub.topic, "fifo"), ("queues", name, "fifo")),
                )
    for name, queue in t.queues.items():
        if queue.dead_letter is False or queue.dead_letter.queue is None:
            continue
        dlq = t.queues.get(queue.dead_letter.queue)
        if dlq is not None and dlq.fifo != queue.fifo:
            yield Finding(
                ("queues", name, "dead_letter", "queue"),
                f"a {_kind(queue)} queue needs a {_kind(queue)} dead-letter queue; "
                f"{queue.dead_letter.queue!r} is {_kind(dlq)}",
                (("queues", name, "fifo"), ("queues", queue.dead_letter.queue, "fifo")),
            )
    yield from _fifo_targets(t, queues)


def _fifo_targets(t: Topology, queues: Mapping[str, Queue]) -> Iterator[Finding]:
    for rule_name, rule in t.rules.items():
        for j, target in enumerate(rule.targets):
            path = ("rules", rule_name, "targets", j)
            queue = queues.get(target.queue)
            depends = (("queues", target.queue, "fifo"),)
            if queue is not None and queue.fifo and target.message_group_id is None:
                yield Finding(
                    path,
                    f"target queue {target.queue!r} is FIFO: set message_group_id",
                    depends,
                )
            if queue is not None and not queue.fifo and target.message_group_id is not None:
                yield Finding(
                    (*path, "message_group_id"),
                    f"message_group_id is only for FIFO target queues; {target.queue!r} is standard",
                    depends,
                )
            dlq = queues.get(target.dead_letter_queue or "")
            if dlq is not None and dlq.fifo:
                yield Finding(
                    (*path, "dead_letter_queue"),
                    "EventBridge dead-letter queues must be standard queues; "
                    f"{target.dead_letter_queue!r} is FIFO",
                    (("queues", target.dead_letter_queue or "", "fifo"),),
                )


def _kind(queue: Queue) -> str:
    return "FIFO" if queue.fifo else "standard"


# -- references -----------------------------------------------------------------------------------


def _references(t: Topology, env: str | None) -> Iterator[Finding]:
    queues = t.all_queues()
    yield from _subscription_refs(t, queues)
    for name, queue in t.queues.items():
        if queue.dead_letter is not False and queue.dead_letter.queue is not None:
            path: KeyPath = ("queues", name, "dead_letter", "queue")
            yield from _ref(path, "queue", queue.dead_letter.queue, t.queues)
    yield from _rule_refs(t, queues)
    yield from _event_refs(t, queues)
    for queue_name, binding in t.handlers.items():
        yield from _ref(("handlers", queue_name), "queue", queue_name, queues)
        for event_type in binding.events:
            path = ("handlers", queue_name, "events", event_type)
            yield from _ref(path, "event type", event_type, t.events)


def _subscription_refs(t: Topology, queues: Collection[str]) -> Iterator[Finding]:
    for i, sub in enumerate(t.subscriptions):
        path: KeyPath = ("subscriptions", i)
        yield from _ref((*path, "topic"), "topic", sub.topic, t.topics)
        yield from _ref((*path, "queue"), "queue", sub.queue, queues)
        if sub.dead_letter_queue is not None:
            yield from _ref((*path, "dead_letter_queue"), "queue", sub.dead_letter_queue, queues)


def _rule_refs(t: Topology, queues: Collection[str]) -> Iterator[Finding]:
    for name, rule in t.rules.items():
        yield from _ref(("rules", name, "bus"), "bus", rule.bus, t.buses, allow=DEFAULT_BUS)
        for j, target in enumerate(rule.targets):
            path: KeyPath = ("rules", name, "targets", j)
            yield from _ref((*path, "queue"), "queue", target.queue, queues)
            if target.dead_letter_queue is not None:
                dlq = target.dead_letter_queue
                yield from _ref((*path, "dead_letter_queue"), "queue", dlq, queues)


def _event_refs(t: Topology, queues: Collection[str]) -> Iterator[Finding]:
    for name, event in t.events.items():
        for k, dest in enumerate(event.publish_to):
            path: KeyPath = ("events", name, "publish_to", k)
            if dest.topic is not None:
                yield from _ref((*path, "topic"), "topic", dest.topic, t.topics)
            if dest.queue is not None:
                yield from _ref((*path, "queue"), "queue", dest.queue, queues)
            if dest.bus is not None:
                yield from _ref((*path, "bus"), "bus", dest.bus, t.buses, allow=DEFAULT_BUS)


_SECTION = {"topic": "topics", "queue": "queues", "bus": "buses", "event type": "events"}


def _ref(
    path: KeyPath, kind: str, name: str, declared: Collection[str], allow: str | None = None
) -> Iterator[Finding]:
    if name in declared or name == allow:
        return
    section = _SECTION[kind]
    close = difflib.get_close_matches(name, sorted(declared), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    yield Finding(
        path, f"{kind} {name!r} is not declared under {section}{hint}", ((section, name),)
    )


# -- dead letters ---------------------------------------------------------------------------------


def _derived_dlq(t: Topology, name: str) -> str | None:
    queue = t.queues[name]
    if queue.dead_letter is False or queue.dead_letter.queue is not None:
        return None
    dlq = t.dead_letter_of(name)
    return dlq[0] if dlq is not None else None


def _dead_letters(t: Topology, env: str | None) -> Iterator[Finding]:
    sources = _declared_dlq_sources(t)
    for name, queue in t.queues.items():
        if queue.dead_letter is not False and queue.dead_letter.queue == name:
            yield Finding(
                ("queues", name, "dead_letter", "queue"),
                "a queue cannot be its own dead-letter queue",
            )
        elif name in sources and "dead_letter" in queue.model_fields_set and queue.dead_letter:
            users = ", ".join(repr(s) for s in sources[name])
            yield Finding(
                ("queues", name, "dead_letter"),
                f"{name!r} is the dead-letter queue of {users}; a dead-letter queue cannot have "
                "one of its own (set dead_letter: false)",
            )
        derived = _derived_dlq(t, name)
        if derived is not None and derived in t.queues:
            yield Finding(
                ("queues", derived),
                f"{derived!r} collides with the dead-letter queue bus derives for {name!r}; "
                f"set {name}'s dead_letter.queue: {derived}, or rename it",
                (("queues", name, "dead_letter"),),
            )


def _declared_dlq_sources(t: Topology) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, queue in t.queues.items():
        if queue.dead_letter is not False and queue.dead_letter.queue not in (None, name):
            out.setdefault(queue.dead_letter.queue or "", []).append(name)
    return out


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
