"""Carry a ``Plan`` out: the only module of ``bus.topology`` that changes AWS.

Changes run in dependency order, one tier at a time, the resources of a tier concurrently (bounded):
buses, topics, dead-letter queues, the queues that redrive to them (their access policies are part
of their attributes), subscriptions, rules, rule targets; deletes in the reverse order. A plan with a
``ReplaceRequired`` change is refused before anything is touched.

``converge`` is the whole job (observe, plan, apply) and what tests and ``bus up`` call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bus.aws import AwsClients, aws_errors
from bus.errors import AwsError, PlanError
from bus.topology import alarms_aws, claims_aws, idempotency_aws, mappings_aws
from bus.topology.model import Topology, ownership_tags
from bus.topology.observe import (
    DEFAULT_CONCURRENCY,
    MISSING_EVENTS,
    MISSING_QUEUE,
    MISSING_TOPIC,
    Scope,
    gather,
    observe,
)
from bus.topology.plan import Change, Create, Delete, Plan, Update, normalise, plan
from bus.topology.resolve import Resource, desired_resources

T = TypeVar("T")
TARGET_JSON_FIELDS = ("InputTransformer", "DeadLetterConfig", "RetryPolicy", "SqsParameters")


async def make_plan(
    aws: AwsClients, topology: Topology, env: str | None, *, prune: bool = False
) -> Plan:
    """Observe what exists and plan the changes that make it match ``topology`` in ``env``."""
    desired = desired_resources(topology, env, await aws.account())
    observed = await observe(aws, desired, Scope(env, ownership_tags(topology, env), prune))
    return plan(desired, observed, prune=prune)


async def converge(
    aws: AwsClients, topology: Topology, env: str | None, *, prune: bool = False
) -> Plan:
    """Make AWS match ``topology`` in ``env``; return the plan carried out.

    Raises ``PlanError`` before changing anything when a change cannot be made in place.
    """
    changes = await make_plan(aws, topology, env, prune=prune)
    await apply(aws, changes)
    return changes


async def apply(aws: AwsClients, changes: Plan, *, limit: int = DEFAULT_CONCURRENCY) -> None:
    """Carry ``changes`` out in dependency order; refuse the whole plan if any change is refused."""
    if changes.refused:
        raise PlanError(changes.explain_refusal())
    applier = Applier(aws, limit)
    for step in _steps(changes.changes):
        await gather(applier.carry(group) for group in step)


def _steps(changes: Sequence[Change]) -> list[list[list[Change]]]:
    """Changes grouped per resource, the groups per step (a tier, or a tier of deletes)."""
    steps: dict[tuple[bool, int], dict[tuple[str, str], list[Change]]] = {}
    for change in changes:
        step = (isinstance(change, Delete), change.resource.tier)
        steps.setdefault(step, {}).setdefault(change.key, []).append(change)
    return [list(groups.values()) for groups in steps.values()]


def create_attributes(resource: Resource) -> dict[str, str]:
    """The attributes to pass when creating ``resource``: those that differ from AWS's default."""
    kind = resource.kind
    return {
        k: v
        for k, v in resource.attributes.items()
        if normalise(kind, k, v) != normalise(kind, k, None)
    }


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


@dataclass
class Applier:
    """Makes the AWS calls for one apply, at most ``limit`` at a time."""

    aws: AwsClients
    limit: int = DEFAULT_CONCURRENCY
    _sem: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self._sem = asyncio.Semaphore(self.limit)

    async def call(
        self,
        operation: str,
        fn: Callable[..., Awaitable[T]],
        missing: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> T | None:
        async with self._sem:
            try:
                with aws_errors(operation):
                    return await fn(**kwargs)
            except AwsError as exc:
                if exc.code in missing:
                    return None  # already gone: deleting is idempotent
                raise

    async def carry(self, group: list[Change]) -> None:
        """Carry out the changes of one resource (a create, a delete, or its updates)."""
        first = group[0]
        if isinstance(first, Create):
            await getattr(self, f"create_{first.resource.kind}")(first.resource)
        elif isinstance(first, Delete):
            await getattr(self, f"delete_{first.resource.kind}")(first.resource)
        else:
            updates = [c for c in group if isinstance(c, Update)]
            await getattr(self, f"update_{first.resource.kind}")(updates)

    async def _tags(
        self, updates: Sequence[Update], tag: Callable[[dict[str, str]], Awaitable[object]],
        untag: Callable[[list[str]], Awaitable[object]],
    ) -> None:  # fmt: skip
        changed = [u for u in updates if u.is_tag]
        if not changed:
            return
        wanted = changed[0].resource.tags or {}
        keys = [u.attribute.removeprefix("tag:") for u in changed]
        to_set = {k: wanted[k] for k in keys if k in wanted}
        to_remove = [k for k in keys if k not in wanted]
        if to_set:
            await tag(to_set)
        if to_remove:
            await untag(to_remove)

    # -- queues -----------------------------------------------------------------------------------

    async def create_queue(self, r: Resource) -> None:
        await self.call("CreateQueue", self.aws.sqs.create_queue, QueueName=r.name,
                        Attributes=create_attributes(r), tags=dict(r.tags or {}))  # fmt: skip

    async def update_queue(self, updates: Sequence[Update]) -> None:
        url = updates[0].current.ref["url"]
        attributes = {u.attribute: u.new for u in updates if not u.is_tag}
        if attributes:
            await self.call("SetQueueAttributes", self.aws.sqs.set_queue_attributes,
                            QueueUrl=url, Attributes=attributes)  # fmt: skip
        await self._tags(
            updates,
            lambda tags: self.call("TagQueue", self.aws.sqs.tag_queue, QueueUrl=url, Tags=tags),
            lambda keys: self.call("UntagQueue", self.aws.sqs.untag_queue, QueueUrl=url,
                                   TagKeys=keys),
        )  # fmt: skip

    async def delete_queue(self, r: Resource) -> None:
        await self.call("DeleteQueue", self.aws.sqs.delete_queue, MISSING_QUEUE,
                        QueueUrl=r.ref["url"])  # fmt: skip

    # -- topics and subscriptions -----------------------------------------------------------------

    async def create_topic(self, r: Resource) -> None:
        await self.call("CreateTopic", self.aws.sns.create_topic, Name=r.name,
                        Attributes=create_attributes(r), Tags=_tag_list(r.tags or {}))  # fmt: skip

    async def update_topic(self, updates: Sequence[Update]) -> None:
        arn = updates[0].current.ref["arn"]
        for u in updates:
            if not u.is_tag:
                await self.call("SetTopicAttributes", self.aws.sns.set_topic_attributes,
                                TopicArn=arn, AttributeName=u.attribute, AttributeValue=u.new)  # fmt: skip
        await self._sns_tags(arn, updates)

    async def _sns_tags(self, arn: str, updates: Sequence[Update]) -> None:
        sns = self.aws.sns
        await self._tags(
            updates,
            lambda tags: self.call("TagResource", sns.tag_resource, ResourceArn=arn,
                                   Tags=_tag_list(tags)),
            lambda keys: self.call("UntagResource", sns.untag_resource, ResourceArn=arn,
                                   TagKeys=keys),
        )  # fmt: skip

    async def delete_topic(self, r: Resource) -> None:
        await self.call("DeleteTopic", self.aws.sns.delete_topic, MISSING_TOPIC,
                        TopicArn=r.ref["arn"])  # fmt: skip

    async def create_subscription(self, r: Resource) -> None:
        await self.call("Subscribe", self.aws.sns.subscribe, TopicArn=r.ref["topic_arn"],
                        Protocol="sqs", Endpoint=r.ref["queue_arn"],
                        Attributes=create_attributes(r), ReturnSubscriptionArn=True)  # fmt: skip

    async def update_subscription(self, updates: Sequence[Update]) -> None:
        arn = updates[0].current.ref["arn"]
        for u in subscription_update_order(updates):
            value = "{}" if u.attribute == "FilterPolicy" and not u.new else u.new
            await self.call("SetSubscriptionAttributes", self.aws.sns.set_subscription_attributes,
                            SubscriptionArn=arn, AttributeName=u.attribute, AttributeValue=value)  # fmt: skip

    async def delete_subscription(self, r: Resource) -> None:
        await self.call("Unsubscribe", self.aws.sns.unsubscribe, MISSING_TOPIC,
                        SubscriptionArn=r.ref["arn"])  # fmt: skip

    # -- EventBridge ------------------------------------------------------------------------------

    async def create_bus(self, r: Resource) -> None:
        kwargs: dict[str, Any] = {"Name": r.name, "Tags": _tag_list(r.tags or {})}
        if r.attributes.get("Description"):
            kwargs["Description"] = r.attributes["Description"]
        await self.call("CreateEventBus", self.aws.events.create_event_bus, **kwargs)

    async def update_bus(self, updates: Sequence[Update]) -> None:
        r = updates[0].resource
        if any(not u.is_tag for u in updates):
            await self.call("UpdateEventBus", self.aws.events.update_event_bus, Name=r.name,
                            Description=r.attributes.get("Description", ""))  # fmt: skip
        await self._event_tags(updates[0].current.ref["arn"], updates)

    async def _event_tags(self, arn: str, updates: Sequence[Update]) -> None:
        events = self.aws.events
        await self._tags(
            updates,
            lambda tags: self.call("TagResource", events.tag_resource, ResourceARN=arn,
                                   Tags=_tag_list(tags)),
            lambda keys: self.call("UntagResource", events.untag_resource, ResourceARN=arn,
                                   TagKeys=keys),
        )  # fmt: skip

    async def delete_bus(self, r: Resource) -> None:
        await self.call("DeleteEventBus", self.aws.events.delete_event_bus, MISSING_EVENTS,
                        Name=r.name)  # fmt: skip

    async def _put_rule(self, r: Resource, **extra: Any) -> None:
        a = r.attributes
        await self.call("PutRule", self.aws.events.put_rule, Name=r.ref["rule"],
                        EventBusName=r.ref["bus"], EventPattern=a["EventPattern"],
                        State=a["State"], Description=a.get("Description", ""), **extra)  # fmt: skip

    async def create_rule(self, r: Resource) -> None:
        await self._put_rule(r, Tags=_tag_list(r.tags or {}))

    async def update_rule(self, updates: Sequence[Update]) -> None:
        if any(not u.is_tag for u in updates):
            await self._put_rule(updates[0].resource)
        await self._event_tags(updates[0].current.ref["arn"], updates)

    async def delete_rule(self, r: Resource) -> None:
        """Remove the rule's remaining targets (EventBridge requires it), then the rule."""
        events = self.aws.events
        where = {"Rule": r.ref["rule"], "EventBusName": r.ref["bus"]}
        listed = await self.call("ListTargetsByRule", events.list_targets_by_rule,
                                 MISSING_EVENTS, **where)  # fmt: skip
        ids = [t["Id"] for t in listed.get("Targets", [])] if listed else []
        if ids:
            await self.call("RemoveTargets", events.remove_targets, MISSING_EVENTS, Ids=ids,
                            **where)  # fmt: skip
        await self.call("DeleteRule", events.delete_rule, MISSING_EVENTS, Name=r.ref["rule"],
                        EventBusName=r.ref["bus"])  # fmt: skip

    async def create_target(self, r: Resource) -> None:
        got = await self.call("PutTargets", self.aws.events.put_targets, Rule=r.ref["rule"],
                              EventBusName=r.ref["bus"], Targets=[target_entry(r)])  # fmt: skip
        failed = got.get("FailedEntries", []) if got else []
        if failed:
            code = str(failed[0].get("ErrorCode", "FailedEntry"))
            raise AwsError(
                f"PutTargets failed for target {r.name}: {code}: {failed[0].get('ErrorMessage', '')}",
                code=code,
                operation="PutTargets",
            )

    async def update_target(self, updates: Sequence[Update]) -> None:
        await self.create_target(updates[0].resource)  # PutTargets replaces the whole target

    async def delete_target(self, r: Resource) -> None:
        await self.call("RemoveTargets", self.aws.events.remove_targets, MISSING_EVENTS,
                        Rule=r.ref["rule"], EventBusName=r.ref["bus"], Ids=[r.ref["id"]])  # fmt: skip

    # -- CloudWatch alarms (bus.topology.alarms_aws) ----------------------------------------------

    async def create_alarm(self, r: Resource) -> None:
        await alarms_aws.put_alarm(self, r)

    async def update_alarm(self, updates: Sequence[Update]) -> None:
        await alarms_aws.update_alarm(self, updates)

    async def delete_alarm(self, r: Resource) -> None:
        await alarms_aws.delete_alarm(self, r)

    # -- DynamoDB idempotency tables (bus.topology.idempotency_aws) -------------------------------

    async def create_table(self, r: Resource) -> None:
        await idempotency_aws.create_table(self, r)

    async def update_table(self, updates: Sequence[Update]) -> None:
        await idempotency_aws.update_table(self, updates)

    async def delete_table(self, r: Resource) -> None:
        await idempotency_aws.delete_table(self, r)

    # -- Lambda event source mappings (bus.topology.mappings_aws) ---------------------------------

    async def create_mapping(self, r: Resource) -> None:
        await mappings_aws.create_mapping(self, r)

    async def update_mapping(self, updates: Sequence[Update]) -> None:
        await mappings_aws.update_mapping(self, updates)

    async def delete_mapping(self, r: Resource) -> None:
        await mappings_aws.delete_mapping(self, r)

    # -- the claim check's S3 bucket (bus.topology.claims_aws) -----------------------------------

    async def create_bucket(self, r: Resource) -> None:
        await claims_aws.create_bucket(self, r)

    async def update_bucket(self, updates: Sequence[Update]) -> None:
        await claims_aws.update_bucket(self, updates)

    async def delete_bucket(self, r: Resource) -> None:
        await claims_aws.delete_bucket(self, r)


def subscription_update_order(updates: Sequence[Update]) -> list[Update]:
    """The order of a subscription's updates: SNS checks a new ``FilterPolicy`` against the scope
    the subscription has *at that moment* (a nested policy needs ``MessageBody``), so the scope
    goes first when it becomes ``MessageBody`` and last otherwise."""
    to_body = any(u.attribute == "FilterPolicyScope" and u.new == "MessageBody" for u in updates)

    def rank(u: Update) -> int:
        if u.attribute == "FilterPolicyScope":
            return 0 if to_body else 2
        return 1 if u.attribute == "FilterPolicy" else 3

    return sorted(updates, key=rank)


def target_entry(r: Resource) -> dict[str, Any]:
    """The ``PutTargets`` entry for a desired target resource."""
    a = r.attributes
    entry: dict[str, Any] = {"Id": r.ref["id"], "Arn": a["Arn"]}
    if a.get("InputPath"):
        entry["InputPath"] = a["InputPath"]
    entry.update({k: json.loads(a[k]) for k in TARGET_JSON_FIELDS if a.get(k)})
    return entry
