"""EventBridge-in-SQS: the EventBridge event, whose ``detail`` is the envelope.

EventBridge carries no message attributes; the decoder fills ``event_type`` and ``event_version``
from the envelope. ``source`` and ``detail-type`` must agree with the envelope's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bus.envelope.attributes import normalise
from bus.errors import DecodeError

ROUTE = "eventbridge"


def matches(body: Mapping[str, Any]) -> bool:
    return "detail-type" in body and "detail" in body and "source" in body


def unwrap(
    body: Mapping[str, Any], attributes: Mapping[str, Any] | None, message_id: str | None
) -> tuple[object, dict[str, str]]:
    detail = body["detail"]
    if not isinstance(detail, Mapping):
        raise DecodeError(
            f"EventBridge event {body.get('id')}: detail is not a JSON object",
            message_id=message_id,
        )
    for outer, inner in (("detail-type", "type"), ("source", "source")):
        if detail.get(inner) != body.get(outer):
            raise DecodeError(
                f"EventBridge event {body.get('id')}: {outer} {body.get(outer)!r} disagrees "
                f"with the envelope's {inner} {detail.get(inner)!r}",
                message_id=message_id,
            )
    return dict(detail), normalise(attributes)
