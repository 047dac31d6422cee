"""Raw SQS: the body is the envelope itself (an SQS send, or SNS with raw message delivery)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bus.envelope.attributes import normalise

ROUTE = "sqs"


def matches(body: Mapping[str, Any]) -> bool:
    return "specversion" in body


def unwrap(
    body: Mapping[str, Any], attributes: Mapping[str, Any] | None, message_id: str | None
) -> tuple[object, dict[str, str]]:
    """(envelope object, attributes): the SQS message attributes are the routing keys."""
    return body, normalise(attributes)
