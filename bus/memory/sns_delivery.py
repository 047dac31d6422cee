"""What SNS puts in a subscribed SQS queue: the message raw (body and attributes as published) or
wrapped in SNS's JSON notification, as AWS sends it.

The wrapped form carries ``Type``, ``MessageId``, ``TopicArn``, ``Subject`` (when given),
``Message``, ``Timestamp``, ``SignatureVersion``, ``Signature``, ``SigningCertURL``,
``UnsubscribeURL``, ``MessageAttributes`` (``{"Type": ..., "Value": ...}``, binary values in
base64) and, from a FIFO topic, ``SequenceNumber``. The signature has AWS's shape but signs with
no certificate: it cannot be verified.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bus.memory.matching import Compiled, compile_pattern
from bus.memory.world import Clock

_CERT = hashlib.md5(b"bus.memory").hexdigest()


@dataclass(eq=False)
class Subscription:
    arn: str
    topic_arn: str
    endpoint: str
    owner: str
    attributes: dict[str, str]
    _policy: dict[str, Any] | None = field(default=None, repr=False)
    compiled: Compiled | None = field(default=None, init=False, repr=False)
    """The policy compiled (set with it)."""

    @property
    def policy(self) -> dict[str, Any] | None:
        """The parsed ``FilterPolicy`` (``None``: no policy)."""
        return self._policy

    @policy.setter
    def policy(self, policy: dict[str, Any] | None) -> None:
        self._policy = policy
        self.compiled = compile_pattern(policy) if policy else None

    @property
    def raw(self) -> bool:
        return self.attributes.get("RawMessageDelivery", "false") == "true"

    @property
    def scope(self) -> str:
        return self.attributes.get("FilterPolicyScope", "MessageAttributes")


@dataclass(eq=False, slots=True)
class Published:
    """One message published to a topic."""

    id: str
    topic_arn: str
    body: str
    attributes: dict[str, Any]
    subject: str | None
    group_id: str | None
    dedup_id: str | None
    sequence: str | None
    at: float
    """When it was published (the clock's loop time)."""
    clock: Clock = field(repr=False)

    @property
    def timestamp(self) -> str:
        """``Timestamp`` of the notification (formatted only for wrapped deliveries)."""
        return self.clock.iso(self.at)

    def envelope(self, subscription: Subscription, region: str) -> str:
        """The JSON notification SNS sends to ``subscription`` for this message."""
        host = f"https://sns.{region}.amazonaws.com"
        notice: dict[str, Any] = {"Type": "Notification", "MessageId": self.id}
        if self.sequence is not None:
            notice["SequenceNumber"] = self.sequence
        notice["TopicArn"] = self.topic_arn
        if self.subject is not None:
            notice["Subject"] = self.subject
        notice["Message"] = self.body
        notice["Timestamp"] = timestamp = self.timestamp
        notice["SignatureVersion"] = "1"
        notice["Signature"] = base64.b64encode(
            hashlib.sha256(f"{self.id}{self.body}{timestamp}".encode()).digest() * 8
        ).decode()
        notice["SigningCertURL"] = f"{host}/SimpleNotificationService-{_CERT}.pem"
        notice["UnsubscribeURL"] = f"{host}/?Action=Unsubscribe&SubscriptionArn={subscription.arn}"
        if self.attributes:
            notice["MessageAttributes"] = envelope_attributes(self.attributes)
        return json.dumps(notice, indent=2, separators=(",", " : "))


def envelope_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    out = {}
    for name, value in attributes.items():
        data_type = str(value.get("DataType", "String"))
        if data_type.startswith("Binary"):
            raw = value.get("BinaryValue", b"")
            text = base64.b64encode(raw if isinstance(raw, bytes) else raw.encode()).decode()
        else:
            text = str(value.get("StringValue", ""))
        out[name] = {"Type": data_type, "Value": text}
    return out
