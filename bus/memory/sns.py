"""In-memory SNS: topics, SQS subscriptions with filter policies, publish and publish_batch.

A published message fans out at once to every subscribed queue whose filter policy matches it
(``bus.memory.matching``), raw or wrapped (``sns_delivery``). FIFO topics need a message group id
and a deduplication id (or content-based deduplication); a duplicate within five minutes is
accepted and not delivered again; group and deduplication ids travel on to FIFO queues. A queue
that does not exist loses the message, or sends it to the subscription's ``RedrivePolicy`` DLQ.
Only the ``sqs`` protocol is served. Queue access policies are not evaluated.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from bus.aws.limits import message_size
from bus.memory.batch import check_batch, failure
from bus.memory.errors import ok
from bus.memory.sns_checks import MAX_BYTES, check_publish, sns_error, structured
from bus.memory.sns_delivery import Subscription
from bus.memory.sns_routes import Fanout
from bus.memory.sqs import MemorySqs
from bus.memory.world import World
from bus.topology.patterns import check_filter_policy

DEDUP_WINDOW = 300.0
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_SUBSCRIPTION_ATTRIBUTES = frozenset(
    {"RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy", "DeliveryPolicy"}
)


@dataclass(eq=False)
class Topic:
    arn: str
    name: str
    attributes: dict[str, str]
    tags: dict[str, str]
    subscriptions: list[Subscription] = field(default_factory=list)
    dedup: dict[str, tuple[float, str, str | None]] = field(default_factory=dict)
    fifo: bool = field(init=False)
    """``FifoTopic`` (set when the topic is created: SNS does not let it change)."""

    def __post_init__(self) -> None:
        self.fifo = self.attributes.get("FifoTopic", "false") == "true"


class MemorySns:
    """One account's topics and subscriptions, answering like aiobotocore's SNS client."""

    def __init__(self, world: World, sqs: MemorySqs) -> None:
        self.world = world
        self.sqs = sqs
        self.topics: dict[str, Topic] = {}
        self.subscriptions: dict[str, Subscription] = {}

    def topic(self, arn: str, op: str) -> Topic:
        topic = self.topics.get(arn)
        if topic is None:
            raise sns_error(op, "Topic does not exist", "NotFound")
        return topic

    def _subscription(self, arn: str, op: str) -> Subscription:
        sub = self.subscriptions.get(arn)
        if sub is None:
            raise sns_error(op, "Subscription does not exist", "NotFound")
        return sub

    # -- topics -----------------------------------------------------------------------------------

    async def create_topic(
        self, Name: str, Attributes: dict[str, str] | None = None,
        Tags: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        op = "CreateTopic"
        attributes = {k: str(v) for k, v in (Attributes or {}).items()}
        fifo = attributes.get("FifoTopic", "false").lower() == "true"
        if not _NAME.match(Name.removesuffix(".fifo")) or Name.endswith(".fifo") != fifo:
            raise sns_error(op, "Invalid parameter: Topic Name")
        arn = self.world.arn("sns", Name)
        existing = self.topics.get(arn)
        if existing is not None:
            if any(existing.attributes.get(k) != v for k, v in attributes.items()):
                raise sns_error(op, "Invalid parameter: Attributes Reason: Topic already exists with "
                                 "different attributes")  # fmt: skip
            return ok(TopicArn=arn)
        tags = {t["Key"]: t["Value"] for t in Tags or []}
        self.topics[arn] = Topic(arn, Name, attributes, tags)
        return ok(TopicArn=arn)

    async def get_topic_attributes(self, TopicArn: str) -> dict[str, Any]:
        topic = self.topic(TopicArn, "GetTopicAttributes")
        account = self.world.account_id
        return ok(
            Attributes={
                "TopicArn": topic.arn,
                "Owner": account,
                "DisplayName": "",
                "SubscriptionsConfirmed": str(len(topic.subscriptions)),
                "SubscriptionsPending": "0",
                "SubscriptionsDeleted": "0",
                **topic.attributes,
            }
        )

    async def set_topic_attributes(
        self, TopicArn: str, AttributeName: str, AttributeValue: str = ""
    ) -> dict[str, Any]:
        op = "SetTopicAttributes"
        topic = self.topic(TopicArn, op)
        if AttributeName == "FifoTopic":
            raise sns_error(op, "Invalid parameter: AttributeName")
        topic.attributes[AttributeName] = AttributeValue
        return ok()

    async def list_topics(self, NextToken: str = "") -> dict[str, Any]:
        arns = sorted(self.topics)
        start = int(NextToken or 0)
        answer: dict[str, Any] = {"Topics": [{"TopicArn": a} for a in arns[start : start + 100]]}
        if start + 100 < len(arns):
            answer["NextToken"] = str(start + 100)
        return ok(**answer)

    async def delete_topic(self, TopicArn: str) -> dict[str, Any]:
        topic = self.topics.pop(TopicArn, None)  # deleting a missing topic succeeds
        for sub in topic.subscriptions if topic else []:
            self.subscriptions.pop(sub.arn, None)
        return ok()

    async def tag_resource(self, ResourceArn: str, Tags: list[dict[str, str]]) -> dict[str, Any]:
        topic = self.topic(ResourceArn, "TagResource")
        topic.tags.update({t["Key"]: t["Value"] for t in Tags})
        return ok()

    async def untag_resource(self, ResourceArn: str, TagKeys: list[str]) -> dict[str, Any]:
        topic = self.topic(ResourceArn, "UntagResource")
        for key in TagKeys:
            topic.tags.pop(key, None)
        return ok()

    async def list_tags_for_resource(self, ResourceArn: str) -> dict[str, Any]:
        topic = self.topic(ResourceArn, "ListTagsForResource")
        return ok(Tags=[{"Key": k, "Value": v} for k, v in sorted(topic.tags.items())])

    # -- subscriptions ----------------------------------------------------------------------------

    async def subscribe(
        self, TopicArn: str, Protocol: str, Endpoint: str = "",
        Attributes: dict[str, str] | None = None, ReturnSubscriptionArn: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        op = "Subscribe"
        topic = self.topic(TopicArn, op)
        if Protocol != "sqs":
            raise sns_error(op, f"Invalid parameter: Protocol (the in-memory SNS delivers to SQS "
                             f"only, not {Protocol})")  # fmt: skip
        if not Endpoint.startswith("arn:") or ":sqs:" not in Endpoint:
            raise sns_error(op, "Invalid parameter: SQS endpoint ARN")
        if Endpoint.endswith(".fifo") and not topic.fifo:
            raise sns_error(op, "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS "
                             "Queues can not be subscribed to standard SNS topics")  # fmt: skip
        attributes = {k: str(v) for k, v in (Attributes or {}).items()}
        for sub in topic.subscriptions:
            if sub.endpoint == Endpoint:
                if any(sub.attributes.get(k) != v for k, v in attributes.items()):
                    raise sns_error(op, "Invalid parameter: Attributes Reason: Subscription already "
                                     "exists with different attributes")  # fmt: skip
                return ok(SubscriptionArn=sub.arn)
        sub = Subscription(
            f"{topic.arn}:{self.world.new_id()}", topic.arn, Endpoint, self.world.account_id, {}
        )
        scope = attributes.pop("FilterPolicyScope", None)
        if scope is not None:
            self._set(sub, op, "FilterPolicyScope", scope)
        for name, value in attributes.items():
            self._set(sub, op, name, value)
        topic.subscriptions.append(sub)
        self.subscriptions[sub.arn] = sub
        return ok(SubscriptionArn=sub.arn)

    def _set(self, sub: Subscription, op: str, name: str, value: str) -> None:
        if name not in _SUBSCRIPTION_ATTRIBUTES:
            raise sns_error(op, "Invalid parameter: AttributeName")
        if name == "FilterPolicyScope":
            if value not in ("MessageAttributes", "MessageBody"):
                raise sns_error(op, "Invalid parameter: Attributes Reason: FilterPolicyScope: Invalid "
                                 f"value [{value}]. Please use either MessageBody or "
                                 "MessageAttributes")  # fmt: skip
            if sub.policy:
                self._check_policy(op, sub.policy, value)
        elif name == "FilterPolicy":
            sub.policy = self._parse_policy(op, value, sub.scope)
        elif name == "RawMessageDelivery":
            value = value.lower()
            if value not in ("true", "false"):
                raise sns_error(op, "Invalid parameter: Attributes Reason: RawMessageDelivery: "
                                 "Invalid value. Must be true or false.")  # fmt: skip
        sub.attributes[name] = value
        if name == "FilterPolicy" and not sub.policy:
            sub.attributes.pop("FilterPolicy")

    def _parse_policy(self, op: str, text: str, scope: str) -> dict[str, Any] | None:
        try:
            policy = json.loads(text) if text else {}
        except ValueError:
            raise sns_error(op, "Invalid parameter: FilterPolicy: failed to parse JSON.") from None
        if not isinstance(policy, dict):
            raise sns_error(op, "Invalid parameter: FilterPolicy: Filter policy must be an object")
        if policy:
            self._check_policy(op, policy, scope)
        return policy or None

    @staticmethod
    def _check_policy(op: str, policy: dict[str, Any], scope: str) -> None:
        issues = check_filter_policy(
            policy, "MessageBody" if scope == "MessageBody" else "MessageAttributes"
        )
        if issues:
            where = ".".join(str(p) for p in issues[0].path)
            raise sns_error(op, f"Invalid parameter: FilterPolicy: {where}: {issues[0].message}")

    async def set_subscription_attributes(
        self, SubscriptionArn: str, AttributeName: str, AttributeValue: str = ""
    ) -> dict[str, Any]:
        op = "SetSubscriptionAttributes"
        self._set(self._subscription(SubscriptionArn, op), op, AttributeName, AttributeValue)
        return ok()

    async def get_subscription_attributes(self, SubscriptionArn: str) -> dict[str, Any]:
        sub = self._subscription(SubscriptionArn, "GetSubscriptionAttributes")
        return ok(
            Attributes={
                "SubscriptionArn": sub.arn,
                "TopicArn": sub.topic_arn,
                "Owner": sub.owner,
                "Protocol": "sqs",
                "Endpoint": sub.endpoint,
                "ConfirmationWasAuthenticated": "true",
                "PendingConfirmation": "false",
                "RawMessageDelivery": "false",
                "SubscriptionPrincipal": f"arn:aws:iam::{sub.owner}:user/bus-memory",
                **sub.attributes,
            }
        )

    async def list_subscriptions_by_topic(
        self, TopicArn: str, NextToken: str = ""
    ) -> dict[str, Any]:
        topic = self.topic(TopicArn, "ListSubscriptionsByTopic")
        listed = [
            {"SubscriptionArn": s.arn, "Owner": s.owner, "Protocol": "sqs",
             "Endpoint": s.endpoint, "TopicArn": s.topic_arn}
            for s in topic.subscriptions
        ]  # fmt: skip
        return ok(Subscriptions=listed)

    async def unsubscribe(self, SubscriptionArn: str) -> dict[str, Any]:
        sub = self._subscription(SubscriptionArn, "Unsubscribe")
        del self.subscriptions[sub.arn]
        topic = self.topics.get(sub.topic_arn)
        if topic is not None:
            topic.subscriptions.remove(sub)
        return ok()

    # -- publishing -------------------------------------------------------------------------------

    async def publish(self, TopicArn: str, Message: str, **entry: Any) -> dict[str, Any]:
        topic = self.topic(TopicArn, "Publish")
        now = self.world.clock.now()
        through = Fanout(self.sqs, self.world, topic.arn, topic.subscriptions, now)
        entry = {"Message": Message, **entry}
        return ok(**_published(*self._publish(topic, "Publish", entry, through, now)))

    async def publish_batch(
        self, TopicArn: str, PublishBatchRequestEntries: list[dict[str, Any]]
    ) -> dict[str, Any]:
        op = "PublishBatch"
        topic = self.topic(TopicArn, op)
        entries = PublishBatchRequestEntries
        check_batch(op, entries)
        sizes = [
            message_size(e.get("Message", ""), e.get("MessageAttributes") or {}) for e in entries
        ]
        total = sum(sizes)
        if total > MAX_BYTES:
            raise sns_error(op, f"The length of all the batch messages put together is more than "
                             f"the limit of {MAX_BYTES} bytes.", "BatchRequestTooLong")  # fmt: skip
        successful, failed = [], []
        now = self.world.clock.now()
        through = Fanout(self.sqs, self.world, topic.arn, topic.subscriptions, now)
        for entry, size in zip(entries, sizes, strict=True):
            try:
                message_id, sequence = self._publish(topic, op, entry, through, now, size)
            except ClientError as exc:
                failed.append(failure(entry["Id"], exc))
                continue
            answer = {"Id": entry["Id"], "MessageId": message_id}
            if sequence is not None:
                answer["SequenceNumber"] = sequence
            successful.append(answer)
        return ok(Successful=successful, Failed=failed)

    def _publish(
        self,
        topic: Topic,
        op: str,
        entry: dict[str, Any],
        through: Fanout,
        now: float,
        size: int | None = None,
    ) -> tuple[str, str | None]:
        """Check, deduplicate and fan out one message: its id and sequence number."""
        body = entry.get("Message", "")
        if type(body) is not str:
            body = str(body)
        attributes = dict(entry.get("MessageAttributes") or {})
        check_publish(op, topic, body, attributes, entry, size)
        if entry.get("MessageStructure") == "json":
            body = structured(op, body)
        group, dedup = entry.get("MessageGroupId"), entry.get("MessageDeduplicationId")
        sequence = None
        if topic.fifo:
            dedup = dedup or hashlib.sha256(body.encode()).hexdigest()
            seen = topic.dedup.get(dedup)
            if seen is not None and seen[0] > now:
                return seen[1], seen[2]
            sequence = self.world.sequence_number()
        message_id = self.world.new_id()
        if topic.fifo and dedup is not None:
            topic.dedup[dedup] = (now + DEDUP_WINDOW, message_id, sequence)
        through.send(message_id, body, attributes, entry.get("Subject"), group, dedup, sequence)
        return message_id, sequence


def _published(message_id: str, sequence: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"MessageId": message_id}
    if sequence is not None:
        out["SequenceNumber"] = sequence
    return out
