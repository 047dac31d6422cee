"""A dead letter as an operator sees it: the SQS message, its decoded envelope and why it died.

Decoding here is lenient on purpose: a DLQ holds exactly the messages that could not be decoded or
validated, so nothing in this module raises on a bad body. The envelope is unwrapped from the three
shapes ``docs/envelope.md`` lists (raw, SNS-in-SQS, EventBridge-in-SQS) without schema validation;
what cannot be unwrapped is reported in ``DeadLetter.decode_error`` and the raw body is kept.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

FAILURE_ATTRIBUTE = "bus.failure"
MAX_RECEIVES = "max-receives"
"""The reason reported for messages without ``bus.failure``: SQS's own redrive policy moved them."""

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Failure:
    """The ``bus.failure`` attribute the worker sets when it dead-letters a message."""

    reason: str = MAX_RECEIVES
    error_type: str | None = None
    error: str | None = None
    attempt: int | None = None
    queue: str | None = None
    message_id: str | None = None
    first_failed_at: datetime | None = None
    failed_at: datetime | None = None

    @classmethod
    def from_attribute(cls, raw: str | None) -> Failure:
        """Parse the attribute's JSON; a missing or unreadable one means ``max-receives``."""
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
        except ValueError:
            return cls(reason="unknown", error=f"unreadable {FAILURE_ATTRIBUTE}: {raw[:200]}")
        if not isinstance(data, dict):
            return cls(reason="unknown", error=f"unreadable {FAILURE_ATTRIBUTE}: {raw[:200]}")
        attempt = data.get("attempt")
        return cls(
            reason=str(data.get("reason") or "unknown"),
            error_type=_opt_str(data.get("error_type")),
            error=_opt_str(data.get("error")),
            attempt=attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else None,
            queue=_opt_str(data.get("queue")),
            message_id=_opt_str(data.get("message_id")),
            first_failed_at=parse_time(data.get("first_failed_at")),
            failed_at=parse_time(data.get("failed_at")),
        )

    def to_json(self) -> JsonDict:
        return {
            "reason": self.reason,
            "error_type": self.error_type,
            "error": self.error,
            "attempt": self.attempt,
            "queue": self.queue,
            "message_id": self.message_id,
            "first_failed_at": format_time(self.first_failed_at),
            "failed_at": format_time(self.failed_at),
        }


@dataclass(frozen=True)
class DeadLetter:
    """One message of a DLQ, decoded as far as it goes. ``receipt_handle`` is this receive's."""

    message_id: str
    body: str
    receipt_handle: str
    message_attributes: Mapping[str, JsonDict]
    """As SQS returns them: ``{name: {"DataType": ..., "StringValue" | "BinaryValue": ...}}``."""
    system_attributes: Mapping[str, str]
    envelope: JsonDict | None
    """The CloudEvents envelope, unwrapped from SNS or EventBridge; ``None`` if the body is not one."""
    decode_error: str | None
    failure: Failure
    sent_at: datetime | None = None
    """When the message entered this queue (SQS ``SentTimestamp``)."""
    wrapper: str = "raw"
    """How the body carried the envelope: ``raw``, ``sns``, ``eventbridge`` or ``none``."""

    # -- envelope fields, with message attributes as fallback ----------------------------------

    @property
    def event_type(self) -> str | None:
        value = (self.envelope or {}).get("type")
        return str(value) if value is not None else self.string_attribute("event_type")

    @property
    def event_version(self) -> int | None:
        value = (self.envelope or {}).get("eventversion")
        if value is None:
            value = self.string_attribute("event_version")
        try:
            return int(value) if value is not None and not isinstance(value, bool) else None
        except (TypeError, ValueError):
            return None

    @property
    def event_id(self) -> str | None:
        value = (self.envelope or {}).get("id")
        return str(value) if value is not None else None

    @property
    def data(self) -> Any:
        return (self.envelope or {}).get("data")

    @property
    def receive_count(self) -> int:
        return int(self.system_attributes.get("ApproximateReceiveCount", "0") or 0)

    @property
    def group_id(self) -> str | None:
        return self.system_attributes.get("MessageGroupId")

    @property
    def deduplication_id(self) -> str | None:
        return self.system_attributes.get("MessageDeduplicationId")

    @property
    def dead_letter_source_arn(self) -> str | None:
        """Set by SQS when its own redrive policy moved the message here."""
        return self.system_attributes.get("DeadLetterQueueSourceArn")

    @property
    def died_at(self) -> datetime | None:
        """When it was dead-lettered: ``bus.failure``'s ``failed_at``, else when it was sent here."""
        return self.failure.failed_at or self.sent_at

    def age_seconds(self, now: datetime) -> float | None:
        died = self.died_at
        return None if died is None else (now - died).total_seconds()

    def string_attribute(self, name: str) -> str | None:
        attr = self.message_attributes.get(name)
        if attr is None:
            return None
        value = attr.get("StringValue")
        return str(value) if value is not None else None

    def attribute_value(self, name: str) -> Any:
        """A message attribute's value: numbers as numbers, strings as strings."""
        attr = self.message_attributes.get(name)
        if attr is None:
            return None
        value = attr.get("StringValue")
        if value is not None and str(attr.get("DataType", "")).startswith("Number"):
            try:
                return int(value)
            except ValueError:
                try:
                    return float(value)
                except ValueError:
                    return value
        return value


# -- building records -----------------------------------------------------------------------------


def from_sqs(message: Mapping[str, Any]) -> DeadLetter:
    """Build a ``DeadLetter`` from one ``ReceiveMessage`` entry (with all attributes requested)."""
    body = str(message.get("Body", ""))
    attributes: dict[str, JsonDict] = {
        str(k): dict(v) for k, v in (message.get("MessageAttributes") or {}).items()
    }
    system = {str(k): str(v) for k, v in (message.get("Attributes") or {}).items()}
    failure_attr = attributes.get(FAILURE_ATTRIBUTE, {}).get("StringValue")
    envelope, wrapper, error = unwrap(body)
    return DeadLetter(
        message_id=str(message["MessageId"]),
        body=body,
        receipt_handle=str(message.get("ReceiptHandle", "")),
        message_attributes=attributes,
        system_attributes=system,
        envelope=envelope,
        decode_error=error,
        failure=Failure.from_attribute(failure_attr),
        sent_at=_from_millis(system.get("SentTimestamp")),
        wrapper=wrapper,
    )


def unwrap(body: str) -> tuple[JsonDict | None, str, str | None]:
    """(envelope, wrapper, error) of a body in any of the three shapes; never raises."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        return None, "none", f"body is not JSON: {exc}"
    if isinstance(doc, dict) and doc.get("Type") == "Notification" and "Message" in doc:
        inner, _, error = unwrap(str(doc["Message"]))
        return inner, "sns", (f"SNS Message: {error}" if error else None)
    if isinstance(doc, dict) and "detail-type" in doc and "detail" in doc:
        detail = doc["detail"]
        if _is_envelope(detail):
            return detail, "eventbridge", None
        return None, "eventbridge", "EventBridge detail is not a bus envelope"
    if _is_envelope(doc):
        return doc, "raw", None
    return None, "none", "body is not a bus envelope (no specversion/type/id)"


def _is_envelope(doc: Any) -> bool:
    return isinstance(doc, dict) and "type" in doc and "id" in doc and "specversion" in doc


# -- time helpers ---------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (UTC when no zone is given); ``None`` if not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _from_millis(value: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC) if value else None
    except (TypeError, ValueError):
        return None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
