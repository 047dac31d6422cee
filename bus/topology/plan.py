"""Desired + observed resources -> a ``Plan`` of changes (pure: no I/O, data in, data out).

Attributes are compared in a canonical form: JSON-valued attributes are parsed and re-dumped with
sorted keys, and an attribute AWS leaves out compares equal to its documented default (an absent
``FilterPolicyScope`` is ``MessageAttributes``). Tags compare key by key; ``aws:`` tags belong to
AWS and are ignored. One ``Update`` is made per attribute or tag that differs; a change AWS
cannot make in place (a queue's or topic's FIFO-ness) is a ``ReplaceRequired``, which ``apply``
refuses. Resources no longer declared become ``Delete`` only when pruning, and only if owned.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bus.topology.resolve import (
    DEFAULT_DEDUPLICATION_SCOPE,
    DEFAULT_FIFO_THROUGHPUT_LIMIT,
    DEFAULT_REDRIVE_ALLOW_POLICY,
    DEFAULT_TARGET_RETRY_POLICY,
    Kind,
    Resource,
    dumps,
)

JSON_ATTRIBUTES = frozenset(
    {
        "Policy",
        "RedrivePolicy",
        "RedriveAllowPolicy",
        "FilterPolicy",
        "EventPattern",
        "InputTransformer",
        "DeadLetterConfig",
        "RetryPolicy",
        "SqsParameters",
    }
)
ABSENT: Mapping[tuple[Kind, str], str] = {
    ("queue", "FifoQueue"): "false",
    ("queue", "RedriveAllowPolicy"): DEFAULT_REDRIVE_ALLOW_POLICY,
    ("queue", "DeduplicationScope"): DEFAULT_DEDUPLICATION_SCOPE,
    ("queue", "FifoThroughputLimit"): DEFAULT_FIFO_THROUGHPUT_LIMIT,
    ("topic", "FifoTopic"): "false",
    ("subscription", "RawMessageDelivery"): "false",
    ("subscription", "FilterPolicyScope"): "MessageAttributes",
    ("target", "RetryPolicy"): DEFAULT_TARGET_RETRY_POLICY,
}
"""What an attribute AWS does not return means; every other absent attribute means ``""``."""

IMMUTABLE: Mapping[tuple[Kind, str], str] = {
    ("table", "KeySchema"): (
        "DynamoDB fixes a table's key schema when it is created. Declare a table of another name, "
        "then remove the old one and run `bus apply --prune`."
    ),
    ("queue", "FifoQueue"): (
        "SQS fixes a queue's type when it is created. Declare a new queue (a FIFO queue's name ends "
        "in .fifo), move producers and consumers to it, drain the old one, then remove it from the "
        "topology and run `bus apply --prune`."
    ),
    ("topic", "FifoTopic"): (
        "SNS fixes a topic's type when it is created. Declare a new topic (a FIFO topic's name ends "
        "in .fifo), move publishers to it, then remove the old one and run `bus apply --prune`."
    ),
}
AWS_TAG_PREFIX = "aws:"
TAG_PREFIX = "tag:"
NONE = "(none)"


def normalise(kind: Kind, attribute: str, value: str | None) -> str:
    """The canonical form of one attribute value (``""`` when it is not set)."""
    if value is None or value == "":
        return ABSENT.get((kind, attribute), "")
    if attribute in JSON_ATTRIBUTES:
        return _canonical_json(kind, attribute, value)
    return value


def _canonical_json(kind: Kind, attribute: str, value: str) -> str:
    try:
        parsed: Any = json.loads(value)
    except ValueError:
        return value
    if attribute == "FilterPolicy" and parsed == {}:
        return ""  # SNS's way of saying "no filter policy"
    if (
        attribute == "InputTransformer"
        and isinstance(parsed, dict)
        and not parsed.get("InputPathsMap")
    ):
        parsed.pop("InputPathsMap", None)
    return dumps(parsed)


# -- changes --------------------------------------------------------------------------------------


def _show(value: str) -> str:
    return value if value != "" else NONE


@dataclass(frozen=True)
class Create:
    resource: Resource

    @property
    def key(self) -> tuple[Kind, str]:
        return self.resource.key

    def __str__(self) -> str:
        return f"+ create {self.resource.kind} {self.resource.name}"


@dataclass(frozen=True)
class Update:
    """One attribute (or ``tag:<key>``) of an existing resource changes from ``old`` to ``new``."""

    resource: Resource
    current: Resource
    attribute: str
    old: str
    new: str

    @property
    def key(self) -> tuple[Kind, str]:
        return self.resource.key

    @property
    def is_tag(self) -> bool:
        return self.attribute.startswith(TAG_PREFIX)

    def __str__(self) -> str:
        return (
            f"~ update {self.resource.kind} {self.resource.name}: "
            f"{self.attribute}: {_show(self.old)} -> {_show(self.new)}"
        )


@dataclass(frozen=True)
class ReplaceRequired:
    """A change AWS cannot make in place; bus refuses it rather than delete the resource."""

    resource: Resource
    current: Resource
    attribute: str
    old: str
    new: str
    reason: str

    @property
    def key(self) -> tuple[Kind, str]:
        return self.resource.key

    def __str__(self) -> str:
        return (
            f"! replace-required {self.resource.kind} {self.resource.name}: "
            f"{self.attribute}: {_show(self.old)} -> {_show(self.new)} (cannot change in place)"
        )


@dataclass(frozen=True)
class Delete:
    """An owned resource no longer declared (only when pruning). A queue's line says about how
    many messages deleting it throws away, when the observation read that (``ref["messages"]``)."""

    resource: Resource

    @property
    def key(self) -> tuple[Kind, str]:
        return self.resource.key

    def __str__(self) -> str:
        line = f"- delete {self.resource.kind} {self.resource.name}"
        messages = self.resource.ref.get("messages")
        if self.resource.kind == "queue" and messages is not None:
            line += f" (~{messages} message{'' if messages == '1' else 's'})"
        return line


Change = Create | Update | ReplaceRequired | Delete


@dataclass(frozen=True)
class Plan:
    """The changes that make AWS match the topology, in the order ``apply`` carries them out."""

    changes: tuple[Change, ...] = ()
    unchanged: int = 0

    @property
    def is_empty(self) -> bool:
        return not self.changes

    @property
    def refused(self) -> tuple[ReplaceRequired, ...]:
        return tuple(c for c in self.changes if isinstance(c, ReplaceRequired))

    def count(self, kind: type[Change]) -> int:
        return sum(1 for c in self.changes if isinstance(c, kind))

    def summary(self) -> str:
        if self.is_empty:
            return f"No changes. {self.unchanged} unchanged."
        text = (
            f"Plan: {self.count(Create)} to create, {self.count(Update)} to update, "
            f"{self.count(Delete)} to delete, {self.unchanged} unchanged"
        )
        refused = len(self.refused)
        return text + (f", {refused} replace-required (refused)." if refused else ".")

    def explain_refusal(self) -> str:
        """Why ``apply`` refuses this plan and what the user can do; ``""`` when it does not."""
        lines = [f"{c.resource.kind} {c.resource.name}: {c.attribute} {_show(c.old)} -> "
                 f"{_show(c.new)}: {c.reason}" for c in self.refused]  # fmt: skip
        if not lines:
            return ""
        head = f"{len(lines)} change{'s' if len(lines) != 1 else ''} cannot be made in place; nothing was changed:"
        return "\n".join([head, *lines])

    def lines(self) -> list[str]:
        return [str(c) for c in self.changes]

    def __str__(self) -> str:
        return "\n".join([*self.lines(), self.summary()])


# -- planning -------------------------------------------------------------------------------------


def plan(desired: Iterable[Resource], observed: Iterable[Resource], *, prune: bool = False) -> Plan:
    """Compare ``desired`` with ``observed``; with ``prune``, owned leftovers become deletes."""
    seen = {r.key: r for r in observed}
    wanted = {r.key: r for r in desired}
    changes: list[Change] = []
    unchanged = 0
    for key, resource in wanted.items():
        current = seen.get(key)
        if current is None:
            changes.append(Create(resource))
            continue
        diff = diff_resource(resource, current)
        changes += diff
        unchanged += not diff
    if prune:
        changes += [Delete(r) for k, r in seen.items() if k not in wanted and r.owned]
    return Plan(changes=tuple(sorted(changes, key=_order)), unchanged=unchanged)


def _order(change: Change) -> tuple[int, str, int, str]:
    resource = change.resource
    if isinstance(change, Delete):
        return (1, "", -resource.tier, resource.name)
    step = 0 if isinstance(change, ReplaceRequired | Create) else 1
    return (0, f"{resource.tier:02d}{resource.name}", step, getattr(change, "attribute", ""))


def diff_resource(desired: Resource, current: Resource) -> list[Change]:
    """The changes that turn ``current`` into ``desired`` (same kind and name)."""
    kind = desired.kind
    out: list[Change] = []
    for attribute, value in desired.attributes.items():
        new = normalise(kind, attribute, value)
        old = normalise(kind, attribute, current.attributes.get(attribute))
        if new == old:
            continue
        reason = IMMUTABLE.get((kind, attribute))
        if reason is not None:
            out.append(ReplaceRequired(desired, current, attribute, old, new, reason))
        else:
            out.append(Update(desired, current, attribute, old, new))
    if desired.tags is not None:
        out += _tag_changes(desired, current)
    return out


def _user_tags(resource: Resource) -> dict[str, str]:
    """Tags other than AWS's own ``aws:`` ones (which nobody else may set or remove)."""
    tags = resource.tags or {}
    return {k: v for k, v in tags.items() if not k.startswith(AWS_TAG_PREFIX)}


def _tag_changes(desired: Resource, current: Resource) -> list[Change]:
    want, have = _user_tags(desired), _user_tags(current)
    return [
        Update(desired, current, TAG_PREFIX + key, have.get(key, ""), want.get(key, ""))
        for key in sorted(want.keys() | have.keys())
        if want.get(key) != have.get(key)
    ]
