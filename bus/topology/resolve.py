"""Topology + environment + account -> the resources AWS should hold (pure).

Physical names and ARNs come from ``Names``; publishers and workers use the same rules
(``physical_name`` from the model and ``Account.arn``). ``desired_resources`` turns a ``Topology``
into ``Resource`` values whose attributes are in AWS's own string form, ready to compare with what
``bus.topology.observe`` reads back and to hand to ``bus.topology.apply``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from bus.aws.clients import Account
from bus.topology.model import (
    DEFAULT_BUS,
    Queue,
    Rule,
    Subscription,
    Target,
    Topic,
    Topology,
    ownership_tags,
    physical_name,
)
from bus.topology.policy import queue_policy

Kind = Literal[
    "bus", "topic", "queue", "subscription", "rule", "target", "alarm", "table", "mapping", "bucket"
]
KINDS: tuple[Kind, ...] = (
    "bus", "topic", "queue", "subscription", "rule", "target", "alarm", "table", "mapping",
    "bucket",
)  # fmt: skip
"""Kinds in the order they are created (deleted in reverse)."""

DLQ_SOURCES_MAX = 10
"""SQS's limit on ``sourceQueueArns`` in a ``byQueue`` redrive allow policy."""
DEFAULT_REDRIVE_ALLOW_POLICY = '{"redrivePermission":"allowAll"}'
"""SQS's redrive allow policy for a queue that has none: any queue may use it as its DLQ."""
DEFAULT_DEDUPLICATION_SCOPE = "queue"
DEFAULT_FIFO_THROUGHPUT_LIMIT = "perQueue"


@dataclass(frozen=True)
class Resource:
    """One AWS resource, desired or observed.

    ``attributes`` are AWS strings (JSON-valued ones as JSON text); ``""`` means "not set".
    ``tags`` is ``None`` for kinds AWS cannot tag (subscriptions, rule targets). ``ref`` holds the
    identifiers apply needs (ARNs, the queue URL, the rule and bus names; for an observed queue
    also ``messages``, its approximate message count) and is never compared.
    ``owned`` says whether bus tagged it (or its parent) as this topology's: only owned resources
    are ever deleted.
    """

    kind: Kind
    name: str
    attributes: Mapping[str, str]
    tags: Mapping[str, str] | None = None
    ref: Mapping[str, str] = field(default_factory=dict)
    owned: bool = True

    @property
    def key(self) -> tuple[Kind, str]:
        return (self.kind, self.name)

    @property
    def tier(self) -> int:
        """Creation order: by kind; queues that redrive to a dead-letter queue after the others
        (so after their DLQs, which never have a dead-letter queue of their own)."""
        rank = KINDS.index(self.kind) * 2
        if self.kind == "queue" and self.attributes.get("RedrivePolicy"):
            rank += 1
        return rank


def dumps(value: Any) -> str:
    """Compact JSON with sorted keys: the form bus writes JSON-valued attributes in."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


DEFAULT_TARGET_RETRY_POLICY = dumps(
    {"MaximumEventAgeInSeconds": 86_400, "MaximumRetryAttempts": 185}
)
"""EventBridge's retry policy for a target that declares none."""


@dataclass(frozen=True)
class Names:
    """Physical names and ARNs of a topology's resources in one environment and account."""

    topology: Topology
    env: str | None
    account: Account

    def queue(self, logical: str) -> str:
        return physical_name(logical, self.env)

    def queue_arn(self, logical: str) -> str:
        return self.account.arn("sqs", self.queue(logical))

    def topic(self, logical: str) -> str:
        return physical_name(logical, self.env)

    def topic_arn(self, logical: str) -> str:
        return self.account.arn("sns", self.topic(logical))

    def bus(self, logical: str) -> str:
        """The bus's physical name; the account's ``default`` bus keeps its name."""
        return DEFAULT_BUS if logical == DEFAULT_BUS else physical_name(logical, self.env)

    def bus_arn(self, logical: str) -> str:
        return self.account.arn("events", f"event-bus/{self.bus(logical)}")

    def rule(self, logical: str) -> str:
        return physical_name(logical, self.env)

    def rule_arn(self, logical: str) -> str:
        bus = self.bus(self.topology.rules[logical].bus)
        path = self.rule(logical) if bus == DEFAULT_BUS else f"{bus}/{self.rule(logical)}"
        return self.account.arn("events", f"rule/{path}")

    def subscription(self, sub: Subscription) -> str:
        return f"{self.topic(sub.topic)} -> {self.queue(sub.queue)}"

    def target(self, rule: str, target: Target) -> str:
        return f"{self.bus(self.topology.rules[rule].bus)}/{self.rule(rule)}/{target.target_id}"

    @property
    def tags(self) -> Mapping[str, str]:
        return ownership_tags(self.topology, self.env)

    @cached_property
    def senders(self) -> Mapping[str, tuple[set[str], set[str]]]:
        """Queue -> (ARNs of the topics, ARNs of the rules) that send to it or dead-letter into
        it; computed once, so that resolving stays linear in the number of queues."""
        out: dict[str, tuple[set[str], set[str]]] = {}
        for sub in self.topology.subscriptions:
            for queue in {sub.queue, sub.dead_letter_queue} - {None}:
                out.setdefault(str(queue), (set(), set()))[0].add(self.topic_arn(sub.topic))
        for rule_name, rule in self.topology.rules.items():
            for target in rule.targets:
                for queue in {target.queue, target.dead_letter_queue} - {None}:
                    out.setdefault(str(queue), (set(), set()))[1].add(self.rule_arn(rule_name))
        return out


def desired_resources(topology: Topology, env: str | None, account: Account) -> list[Resource]:
    """Every resource ``topology`` declares in ``env``, in creation order."""
    names = Names(topology, env, account)
    out: list[Resource] = [
        _bus(names, name, bus.description, bus.tags) for name, bus in topology.buses.items()
    ]
    out += [_topic(names, name, topic) for name, topic in topology.topics.items()]
    out += [_queue(names, name, queue) for name, queue in topology.all_queues().items()]
    out += [_subscription(names, sub) for sub in topology.subscriptions]
    for name, rule in topology.rules.items():
        out.append(_rule(names, name, rule))
        out += [_target(names, name, target) for target in rule.targets]
    # these build on this module: imported here, not at its top
    from bus.topology.alarms import alarm_resources
    from bus.topology.claims import bucket_resources
    from bus.topology.idempotency_tables import table_resources
    from bus.topology.mappings import mapping_resources

    out += alarm_resources(names)
    out += table_resources(names)
    out += mapping_resources(names)
    out += bucket_resources(names)
    return sorted(out, key=lambda r: (r.tier, r.name))


def _tags(names: Names, own: Mapping[str, str]) -> dict[str, str]:
    return {**own, **names.tags}


def _bus(names: Names, name: str, description: str | None, tags: Mapping[str, str]) -> Resource:
    return Resource(
        kind="bus",
        name=names.bus(name),
        attributes={"Description": description or ""},
        tags=_tags(names, tags),
        ref={"arn": names.bus_arn(name)},
    )


def _topic(names: Names, name: str, topic: Topic) -> Resource:
    attributes = {
        "FifoTopic": "true" if topic.fifo else "false",
        "KmsMasterKeyId": topic.kms_master_key_id or "",
        "DisplayName": topic.display_name or "",
    }
    if topic.fifo:
        attributes["ContentBasedDeduplication"] = _bool(topic.content_based_deduplication)
    return Resource(
        kind="topic",
        name=names.topic(name),
        attributes=attributes,
        tags=_tags(names, topic.tags),
        ref={"arn": names.topic_arn(name)},
    )


def _queue(names: Names, name: str, queue: Queue) -> Resource:
    attributes = {
        "VisibilityTimeout": str(queue.visibility_timeout),
        "MessageRetentionPeriod": str(queue.message_retention_period),
        "ReceiveMessageWaitTimeSeconds": str(queue.receive_message_wait_time),
        "DelaySeconds": str(queue.delay_seconds),
        "MaximumMessageSize": str(queue.maximum_message_size),
        **_encryption(queue),
        **_fifo(queue),
        **_redrive(names, name),
        "Policy": _policy(names, name),
    }
    return Resource(
        kind="queue",
        name=names.queue(name),
        attributes=attributes,
        tags=_tags(names, queue.tags),
        ref={"arn": names.queue_arn(name)},
    )


def _encryption(queue: Queue) -> dict[str, str]:
    if queue.encryption == "kms":
        return {
            "SqsManagedSseEnabled": "false",
            "KmsMasterKeyId": queue.kms_master_key_id or "",
            "KmsDataKeyReusePeriodSeconds": str(queue.kms_data_key_reuse_period),
        }
    return {"SqsManagedSseEnabled": _bool(queue.encryption == "sqs"), "KmsMasterKeyId": ""}


def _fifo(queue: Queue) -> dict[str, str]:
    """FIFO settings; undeclared ones are SQS's defaults, so removing one from the YAML reverts it."""
    if not queue.fifo:
        return {"FifoQueue": "false"}
    return {
        "FifoQueue": "true",
        "ContentBasedDeduplication": _bool(queue.content_based_deduplication),
        "DeduplicationScope": queue.deduplication_scope or DEFAULT_DEDUPLICATION_SCOPE,
        "FifoThroughputLimit": queue.fifo_throughput_limit or DEFAULT_FIFO_THROUGHPUT_LIMIT,
    }


def _redrive(names: Names, name: str) -> dict[str, str]:
    topology = names.topology
    out: dict[str, str] = {}
    dead_letter = topology.dead_letter_of(name)
    out["RedrivePolicy"] = (
        dumps(
            {
                "deadLetterTargetArn": names.queue_arn(dead_letter[0]),
                "maxReceiveCount": dead_letter[1],
            }
        )
        if dead_letter
        else ""
    )
    sources = sorted(names.queue_arn(s) for s in topology.dead_letter_sources().get(name, []))
    out["RedriveAllowPolicy"] = (
        dumps({"redrivePermission": "byQueue", "sourceQueueArns": sources})
        if 0 < len(sources) <= DLQ_SOURCES_MAX
        else DEFAULT_REDRIVE_ALLOW_POLICY  # also what a queue that stops being a DLQ reverts to
    )
    return out


def _policy(names: Names, name: str) -> str:
    topics, rules = names.senders.get(name, ((), ()))
    policy = queue_policy(names.queue_arn(name), topics, rules)
    return dumps(policy) if policy else ""


def _subscription(names: Names, sub: Subscription) -> Resource:
    attributes = {"RawMessageDelivery": _bool(sub.raw_message_delivery), "FilterPolicy": ""}
    if sub.filter_policy is not None:
        attributes["FilterPolicy"] = dumps(sub.filter_policy)
        attributes["FilterPolicyScope"] = sub.filter_policy_scope
    attributes["RedrivePolicy"] = (
        dumps({"deadLetterTargetArn": names.queue_arn(sub.dead_letter_queue)})
        if sub.dead_letter_queue
        else ""
    )
    return Resource(
        kind="subscription",
        name=names.subscription(sub),
        attributes=attributes,
        ref={"topic_arn": names.topic_arn(sub.topic), "queue_arn": names.queue_arn(sub.queue)},
    )


def _rule(names: Names, name: str, rule: Rule) -> Resource:
    bus = names.bus(rule.bus)
    return Resource(
        kind="rule",
        name=f"{bus}/{names.rule(name)}",
        attributes={
            "EventPattern": dumps(rule.event_pattern),
            "State": rule.state,
            "Description": rule.description or "",
        },
        tags=_tags(names, rule.tags),
        ref={"arn": names.rule_arn(name), "bus": bus, "rule": names.rule(name)},
    )


def _target(names: Names, rule: str, target: Target) -> Resource:
    attributes = {
        "Arn": names.queue_arn(target.queue),
        "InputPath": target.input_path or "",
        "InputTransformer": "",
        "DeadLetterConfig": "",
        "RetryPolicy": DEFAULT_TARGET_RETRY_POLICY,
        "SqsParameters": "",
    }
    if target.input_transformer is not None:
        transformer: dict[str, Any] = {"InputTemplate": target.input_transformer.input_template}
        if target.input_transformer.input_paths_map:
            transformer["InputPathsMap"] = dict(target.input_transformer.input_paths_map)
        attributes["InputTransformer"] = dumps(transformer)
    if target.dead_letter_queue:
        attributes["DeadLetterConfig"] = dumps({"Arn": names.queue_arn(target.dead_letter_queue)})
    if target.retry_policy is not None:
        attributes["RetryPolicy"] = dumps(
            {
                "MaximumRetryAttempts": target.retry_policy.maximum_retry_attempts,
                "MaximumEventAgeInSeconds": target.retry_policy.maximum_event_age_in_seconds,
            }
        )
    if target.message_group_id:
        attributes["SqsParameters"] = dumps({"MessageGroupId": target.message_group_id})
    rule_model = names.topology.rules[rule]
    return Resource(
        kind="target",
        name=names.target(rule, target),
        attributes=attributes,
        ref={"bus": names.bus(rule_model.bus), "rule": names.rule(rule), "id": target.target_id},
    )


def _bool(value: bool) -> str:
    return "true" if value else "false"
