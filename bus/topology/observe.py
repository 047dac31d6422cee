"""Read what exists in AWS, concurrently, as ``Resource`` values (no changes are made).

For the desired resources it looks each one up by name; with ``prune`` it also lists the
environment's queues, topics, buses and rules and keeps those that carry this topology's ownership
tags (``bus:topology``, ``bus:env``, ``bus:managed``). Subscriptions and rule targets cannot be
tagged: they count as owned when their topic or rule is owned and they point at an owned queue.
Every call goes through ``aws_errors`` and a semaphore that bounds the calls in flight.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from bus.aws import AwsClients, aws_errors
from bus.aws.queues import MISSING_QUEUE_CODES, is_missing_queue, queue_url
from bus.errors import AwsError
from bus.topology.alarms_aws import observe_alarms
from bus.topology.claims_aws import observe_buckets
from bus.topology.idempotency_aws import observe_tables
from bus.topology.mappings_aws import observe_mappings
from bus.topology.model import DEFAULT_BUS
from bus.topology.resolve import Kind, Resource

if TYPE_CHECKING:
    from types_aiobotocore_events.type_defs import RuleTypeDef, TargetOutputTypeDef

T = TypeVar("T")

DEFAULT_CONCURRENCY = 16
MISSING_QUEUE = MISSING_QUEUE_CODES
MISSING_TOPIC = frozenset({"NotFound", "NotFoundException"})
MISSING_EVENTS = frozenset({"ResourceNotFoundException"})
PENDING = "PendingConfirmation"
_VOLATILE = ("Approximate", "CreatedTimestamp", "LastModifiedTimestamp")
MESSAGE_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
"""Read with every queue's attributes anyway; their sum goes into ``ref["messages"]`` so that a
plan's delete line can say what deleting the queue would throw away."""


@dataclass(frozen=True)
class Scope:
    """What to look for besides the desired resources: owned leftovers, when pruning."""

    env: str | None
    ownership: Mapping[str, str]
    prune: bool = False

    @property
    def prefix(self) -> str:
        return f"{self.env}-" if self.env else ""

    def owns(self, tags: Mapping[str, str] | None) -> bool:
        return tags is not None and all(tags.get(k) == v for k, v in self.ownership.items())


async def gather(calls: Iterable[Awaitable[T]]) -> list[T]:
    """Run ``calls`` concurrently (each is bounded by its observer's or applier's semaphore)."""
    return list(await asyncio.gather(*calls))


@dataclass
class Observer:
    """One observation: the clients, the scope and the semaphore shared by its calls."""

    aws: AwsClients
    scope: Scope
    limit: int = DEFAULT_CONCURRENCY
    _sem: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self._sem = asyncio.Semaphore(self.limit)

    async def must(self, operation: str, fn: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
        """``await fn(**kwargs)`` within the bound, botocore errors mapped to ``AwsError``."""
        async with self._sem:
            with aws_errors(operation):
                return await fn(**kwargs)

    async def call(
        self,
        operation: str,
        fn: Callable[..., Awaitable[T]],
        missing: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> T | None:
        """Like ``must``, but ``None`` when AWS answers with one of the ``missing`` codes."""
        try:
            return await self.must(operation, fn, **kwargs)
        except AwsError as exc:
            if exc.code in missing:
                return None
            raise

    # -- SQS --------------------------------------------------------------------------------------

    async def queues(self, names: Sequence[str]) -> list[Resource]:
        urls = await gather(self._queue_url(n) for n in names)
        found = {n: u for n, u in zip(names, urls, strict=True) if u is not None}
        if self.scope.prune:
            found.update({u.rstrip("/").rsplit("/", 1)[-1]: u for u in await self._list_queues()})
        read = await gather(self._queue(n, u) for n, u in found.items())
        wanted = set(names)
        return [q for q in read if q is not None and (q.name in wanted or q.owned)]

    async def _queue_url(self, name: str) -> str | None:
        try:
            async with self._sem:
                return await queue_url(self.aws.sqs, name)
        except AwsError as exc:
            if is_missing_queue(exc):
                return None
            raise

    async def _list_queues(self) -> list[str]:
        urls: list[str] = []
        kwargs: dict[str, Any] = {"MaxResults": 1000}
        if self.scope.prefix:
            kwargs["QueueNamePrefix"] = self.scope.prefix
        while True:
            page = await self.must("ListQueues", self.aws.sqs.list_queues, **kwargs)
            urls += page.get("QueueUrls", [])
            if not page.get("NextToken"):
                return urls
            kwargs["NextToken"] = page["NextToken"]

    async def _queue(self, name: str, url: str) -> Resource | None:
        attrs, tags = await asyncio.gather(
            self.call("GetQueueAttributes", self.aws.sqs.get_queue_attributes, MISSING_QUEUE,
                      QueueUrl=url, AttributeNames=["All"]),
            self.call("ListQueueTags", self.aws.sqs.list_queue_tags, MISSING_QUEUE, QueueUrl=url),
        )  # fmt: skip
        if attrs is None or tags is None:
            return None  # deleted while we looked
        every = {str(k): v for k, v in attrs.get("Attributes", {}).items()}
        attributes = {k: v for k, v in every.items() if not k.startswith(_VOLATILE)}
        owned_tags = dict(tags.get("Tags", {}))
        ref = {"arn": attributes.get("QueueArn", ""), "url": url}
        if any(k in every for k in MESSAGE_COUNTS):
            ref["messages"] = str(sum(int(every.get(k, "0") or 0) for k in MESSAGE_COUNTS))
        return Resource(
            kind="queue",
            name=name,
            attributes=attributes,
            tags=owned_tags,
            ref=ref,
            owned=self.scope.owns(owned_tags),
        )

    # -- SNS --------------------------------------------------------------------------------------

    async def topics(self, arns: Sequence[str]) -> list[Resource]:
        candidates = list(arns)
        if self.scope.prune:
            listed = await self._list_topics()
            candidates += [a for a in listed if a not in set(arns)]
        read = await gather(self._topic(a) for a in candidates)
        wanted = set(arns)
        return [t for t in read if t is not None and (t.ref["arn"] in wanted or t.owned)]

    async def _list_topics(self) -> list[str]:
        arns: list[str] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = await self.must("ListTopics", self.aws.sns.list_topics, **kwargs)
            arns += [t["TopicArn"] for t in page.get("Topics", []) if "TopicArn" in t]
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        return [a for a in arns if a.rsplit(":", 1)[-1].startswith(self.scope.prefix)]

    async def _topic(self, arn: str) -> Resource | None:
        attrs, tags = await asyncio.gather(
            self.call("GetTopicAttributes", self.aws.sns.get_topic_attributes, MISSING_TOPIC,
                      TopicArn=arn),
            self.call("ListTagsForResource", self.aws.sns.list_tags_for_resource, MISSING_TOPIC,
                      ResourceArn=arn),
        )  # fmt: skip
        if attrs is None or tags is None:
            return None
        tag_map = {t["Key"]: t["Value"] for t in tags.get("Tags", [])}
        return Resource(
            kind="topic",
            name=arn.rsplit(":", 1)[-1],
            attributes=dict(attrs.get("Attributes", {})),
            tags=tag_map,
            ref={"arn": arn},
            owned=self.scope.owns(tag_map),
        )

    async def subscriptions(
        self, topics: Sequence[Resource], wanted: set[str], owned_queues: set[str]
    ) -> list[Resource]:
        listed = await gather(self._list_subscriptions(t) for t in topics)
        chosen: list[tuple[str, str, bool]] = []  # (name, subscription arn, owned)
        for topic, subs in zip(topics, listed, strict=True):
            for sub in subs:
                endpoint = sub.get("Endpoint", "")
                arn = sub.get("SubscriptionArn", PENDING)
                if sub.get("Protocol") != "sqs" or arn == PENDING or ":" not in arn:
                    continue
                name = f"{topic.name} -> {endpoint.rsplit(':', 1)[-1]}"
                owned = topic.owned and endpoint in owned_queues
                if name in wanted or (self.scope.prune and owned):
                    chosen.append((name, arn, owned))
        read = await gather(self._subscription(*c) for c in chosen)
        return [s for s in read if s is not None]

    async def _list_subscriptions(self, topic: Resource) -> list[Mapping[str, str]]:
        subs: list[Mapping[str, str]] = []
        kwargs: dict[str, Any] = {"TopicArn": topic.ref["arn"]}
        while True:
            page = await self.call(
                "ListSubscriptionsByTopic", self.aws.sns.list_subscriptions_by_topic,
                MISSING_TOPIC, **kwargs,
            )  # fmt: skip
            if page is None:
                return subs
            subs += [{k: str(v) for k, v in s.items()} for s in page.get("Subscriptions", [])]
            if not page.get("NextToken"):
                return subs
            kwargs["NextToken"] = page["NextToken"]

    async def _subscription(self, name: str, arn: str, owned: bool) -> Resource | None:
        got = await self.call(
            "GetSubscriptionAttributes", self.aws.sns.get_subscription_attributes, MISSING_TOPIC,
            SubscriptionArn=arn,
        )  # fmt: skip
        if got is None:
            return None
        attributes = dict(got.get("Attributes", {}))
        return Resource(
            kind="subscription",
            name=name,
            attributes=attributes,
            ref={
                "arn": arn,
                "topic_arn": attributes.get("TopicArn", ""),
                "queue_arn": attributes.get("Endpoint", ""),
            },
            owned=owned,
        )

    # -- EventBridge ------------------------------------------------------------------------------

    async def buses(self, names: Sequence[str]) -> list[Resource]:
        candidates = [n for n in names if n != DEFAULT_BUS]
        if self.scope.prune:
            candidates += [n for n in await self._list_buses() if n not in set(candidates)]
        read = await gather(self._bus(n) for n in candidates)
        wanted = set(names)
        return [b for b in read if b is not None and (b.name in wanted or b.owned)]

    async def _list_buses(self) -> list[str]:
        names: list[str] = []
        kwargs: dict[str, Any] = {}
        if self.scope.prefix:
            kwargs["NamePrefix"] = self.scope.prefix
        while True:
            page = await self.must("ListEventBuses", self.aws.events.list_event_buses, **kwargs)
            names += [b["Name"] for b in page.get("EventBuses", []) if "Name" in b]
            if not page.get("NextToken"):
                return [n for n in names if n != DEFAULT_BUS]
            kwargs["NextToken"] = page["NextToken"]

    async def _bus(self, name: str) -> Resource | None:
        got = await self.call(
            "DescribeEventBus", self.aws.events.describe_event_bus, MISSING_EVENTS, Name=name
        )
        if got is None:
            return None
        arn = got.get("Arn", "")
        tags = await self._event_tags(arn)
        if tags is None:
            return None
        return Resource(
            kind="bus",
            name=name,
            attributes={"Description": got.get("Description", "")},
            tags=tags,
            ref={"arn": arn},
            owned=self.scope.owns(tags),
        )

    async def _event_tags(self, arn: str) -> dict[str, str] | None:
        got = await self.call(
            "ListTagsForResource", self.aws.events.list_tags_for_resource, MISSING_EVENTS,
            ResourceARN=arn,
        )  # fmt: skip
        return None if got is None else {t["Key"]: t["Value"] for t in got.get("Tags", [])}

    async def rules(self, buses: Sequence[str], wanted: set[str]) -> list[Resource]:
        listed = await gather(self._list_rules(b) for b in buses)
        candidates = [
            (bus, rule)
            for bus, rules in zip(buses, listed, strict=True)
            for rule in rules
            if f"{bus}/{rule.get('Name', '')}" in wanted or self.scope.prune
        ]
        read = await gather(self._rule(bus, rule) for bus, rule in candidates)
        return [r for r in read if r is not None and (r.name in wanted or r.owned)]

    async def _list_rules(self, bus: str) -> list[RuleTypeDef]:
        rules: list[RuleTypeDef] = []
        kwargs: dict[str, Any] = {"EventBusName": bus}
        if self.scope.prefix:
            kwargs["NamePrefix"] = self.scope.prefix
        while True:
            page = await self.call(
                "ListRules", self.aws.events.list_rules, MISSING_EVENTS, **kwargs
            )
            if page is None:
                return rules
            rules += page.get("Rules", [])
            if not page.get("NextToken"):
                return rules
            kwargs["NextToken"] = page["NextToken"]

    async def _rule(self, bus: str, rule: RuleTypeDef) -> Resource | None:
        arn = rule.get("Arn", "")
        tags = await self._event_tags(arn)
        if tags is None:
            return None
        name = rule.get("Name", "")
        return Resource(
            kind="rule",
            name=f"{bus}/{name}",
            attributes={
                "EventPattern": rule.get("EventPattern", ""),
                "State": str(rule.get("State", "")),
                "Description": rule.get("Description", ""),
            },
            tags=tags,
            ref={"arn": arn, "bus": bus, "rule": name},
            owned=self.scope.owns(tags),
        )

    async def targets(
        self, rules: Sequence[Resource], wanted: set[str], owned_queues: set[str]
    ) -> list[Resource]:
        listed = await gather(self._list_targets(r) for r in rules)
        out: list[Resource] = []
        for rule, targets in zip(rules, listed, strict=True):
            for target in targets:
                resource = _target(rule, target, rule.owned and target["Arn"] in owned_queues)
                if resource.name in wanted or (self.scope.prune and resource.owned):
                    out.append(resource)
        return out

    async def _list_targets(self, rule: Resource) -> list[TargetOutputTypeDef]:
        targets: list[TargetOutputTypeDef] = []
        kwargs: dict[str, Any] = {"Rule": rule.ref["rule"], "EventBusName": rule.ref["bus"]}
        while True:
            page = await self.call(
                "ListTargetsByRule", self.aws.events.list_targets_by_rule, MISSING_EVENTS, **kwargs
            )
            if page is None:
                return targets
            targets += page.get("Targets", [])
            if not page.get("NextToken"):
                return targets
            kwargs["NextToken"] = page["NextToken"]


def _target(rule: Resource, target: TargetOutputTypeDef, owned: bool) -> Resource:
    raw: Mapping[str, Any] = target
    attributes = {"Arn": target["Arn"], "InputPath": target.get("InputPath", "")}
    for key in ("InputTransformer", "DeadLetterConfig", "RetryPolicy", "SqsParameters"):
        attributes[key] = json.dumps(raw[key]) if key in raw else ""
    return Resource(
        kind="target",
        name=f"{rule.name}/{target['Id']}",
        attributes=attributes,
        ref={"bus": rule.ref["bus"], "rule": rule.ref["rule"], "id": target["Id"]},
        owned=owned,
    )


def _names(desired: Iterable[Resource], kind: Kind) -> list[str]:
    return [r.name for r in desired if r.kind == kind]


async def observe(
    aws: AwsClients, desired: Sequence[Resource], scope: Scope, *, limit: int = DEFAULT_CONCURRENCY
) -> list[Resource]:
    """What exists of ``desired`` (and, with ``scope.prune``, owned resources no longer declared)."""
    observer = Observer(aws, scope, limit)
    topic_arns = [r.ref["arn"] for r in desired if r.kind == "topic"]
    queues, topics, buses = await asyncio.gather(
        observer.queues(_names(desired, "queue")),
        observer.topics(topic_arns),
        observer.buses(_names(desired, "bus")),
    )
    owned_queues = {q.ref["arn"] for q in queues if q.owned}
    rule_buses = {r.ref["bus"] for r in desired if r.kind == "rule"} & (
        {b.name for b in buses} | {DEFAULT_BUS}
    )
    if scope.prune:
        rule_buses |= {b.name for b in buses} | {DEFAULT_BUS}
    subscriptions, rules = await asyncio.gather(
        observer.subscriptions(topics, set(_names(desired, "subscription")), owned_queues),
        observer.rules(sorted(rule_buses), set(_names(desired, "rule"))),
    )
    targets, alarms, tables, mappings, buckets = await asyncio.gather(
        observer.targets(rules, set(_names(desired, "target")), owned_queues),
        observe_alarms(observer, _names(desired, "alarm")),
        observe_tables(observer, _names(desired, "table")),
        observe_mappings(observer, [r for r in desired if r.kind == "mapping"], owned_queues),
        observe_buckets(observer, _names(desired, "bucket")),
    )
    return [
        *buses, *topics, *queues, *subscriptions, *rules, *targets, *alarms, *tables, *mappings,
        *buckets,
    ]  # fmt: skip
