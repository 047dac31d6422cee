"""SNS-in-SQS: SNS's JSON notification, whose ``Message`` is the envelope (not raw delivery)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bus.envelope.attributes import normalise
from bus.envelope.limits import load_json
from bus.errors import DecodeError

ROUTE = "sns"


def matches(body: Mapping[str, Any]) -> bool:
    return body.get("Type") == "Notification" and "TopicArn" in body and "Message" in body


def unwrap(
    body: Mapping[str, Any], attributes: Mapping[str, Any] | None, message_id: str | None
) -> tuple[object, dict[str, str]]:
    """(envelope object, attributes): the attributes travel inside the notification."""
    message = body["Message"]
    if not isinstance(message, str):
        raise DecodeError("SNS notification's Message is not a string", message_id=message_id)
    envelope = load_json(message, "SNS notification's Message", message_id)
    raw = body.get("MessageAttributes")
    merged = {**normalise(attributes), **normalise(raw if isinstance(raw, Mapping) else None)}
    return envelope, merged
