"""``Received``: one SQS message as the worker sees it, built once from ReceiveMessage's answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bus.aws.failure import FAILURE_ATTRIBUTE
from bus.clock import monotonic

__all__ = ["FAILURE_ATTRIBUTE", "HANDLING", "Received", "handling"]

HANDLING = "message "
"""The name of the task handling a message starts with this, then its id (``handling``): the loop
watchdog names the message whose handler blocks the loop from it."""


def handling(message_id: str) -> str:
    """The name of the task handling message ``message_id``."""
    return HANDLING + message_id


@dataclass(frozen=True, slots=True)
class Received:
    """A received message: its ids, body, attributes and when it was received (monotonic)."""

    message_id: str
    receipt_handle: str
    body: str
    attributes: Mapping[str, Any]
    """SQS message attributes, as ReceiveMessage returns them (``{"DataType": ..., ...}``)."""
    system: Mapping[str, str]
    """SQS system attributes (``ApproximateReceiveCount``, ``MessageGroupId``, ...)."""
    received_at: float = field(default_factory=monotonic)
    asked_at: float | None = None
    """When the ReceiveMessage call was made (monotonic): no later than SQS's receive, from which
    its 12-hour limit on the message's visibility counts. None: ``received_at``."""

    @classmethod
    def from_sqs(
        cls,
        message: Mapping[str, Any],
        received_at: float | None = None,
        asked_at: float | None = None,
    ) -> Received:
        return cls(
            message_id=str(message.get("MessageId", "")),
            receipt_handle=str(message.get("ReceiptHandle", "")),
            body=str(message.get("Body", "")),
            attributes=message.get("MessageAttributes") or {},
            system=message.get("Attributes") or {},
            received_at=monotonic() if received_at is None else received_at,
            asked_at=asked_at,
        )

    @property
    def limit_from(self) -> float:
        """The monotonic time SQS's 12-hour visibility limit is counted from (conservatively)."""
        return self.received_at if self.asked_at is None else self.asked_at

    @property
    def receive_count(self) -> int:
        """SQS's ``ApproximateReceiveCount``: 1 on the first delivery."""
        try:
            return max(1, int(self.system.get("ApproximateReceiveCount", "1")))
        except ValueError:
            return 1

    @property
    def group_id(self) -> str | None:
        return self.system.get("MessageGroupId")

    @property
    def sequence_number(self) -> int | None:
        """FIFO queues: SQS's ``SequenceNumber``, increasing within a message group."""
        value = self.system.get("SequenceNumber")
        return int(value) if value and value.isdigit() else None

    @property
    def first_received_ms(self) -> int | None:
        value = self.system.get("ApproximateFirstReceiveTimestamp")
        return int(value) if value and value.isdigit() else None

    def string_attribute(self, name: str) -> str | None:
        value = self.attributes.get(name)
        if isinstance(value, Mapping):
            text = value.get("StringValue")
            return str(text) if text is not None else None
        return None
