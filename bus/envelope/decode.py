"""Decode a consumed SQS message into its envelope, whichever route brought it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bus.envelope import eventbridge, sns, sqs
from bus.envelope.attributes import EVENT_TYPE, EVENT_VERSION
from bus.envelope.model import Envelope, envelope_from_dict
from bus.errors import DecodeError

Route = Literal["sqs", "sns", "eventbridge"]

_ROUTES = (sns, eventbridge, sqs)


@dataclass(frozen=True)
class Decoded:
    """An envelope, the route that carried it and its attributes as ``{name: str}``.

    ``attributes`` are the message's own (SQS or SNS); ``event_type`` and ``event_version`` are
    filled from the envelope when the route carries none (EventBridge).
    """

    envelope: Envelope
    route: Route
    attributes: Mapping[str, str] = field(default_factory=dict)


def _parse(body: str | bytes, message_id: str | None) -> dict[str, Any]:
    try:
        obj = json.loads(body)
    except ValueError as exc:
        raise DecodeError(f"body is not JSON: {exc}", message_id=message_id) from exc
    if not isinstance(obj, dict):
        raise DecodeError(
            f"body is a JSON {type(obj).__name__}, not an object", message_id=message_id
        )
    return obj


def _check_attributes(env: Envelope, attrs: dict[str, str], message_id: str | None) -> None:
    for name, expected in ((EVENT_TYPE, env.type), (EVENT_VERSION, str(env.version))):
        given = attrs.setdefault(name, expected)
        if given != expected:
            raise DecodeError(
                f"attribute {name}={given!r} disagrees with the envelope ({expected!r})",
                message_id=message_id,
            )


def decode(
    body: str | bytes,
    attributes: Mapping[str, Any] | None = None,
    *,
    message_id: str | None = None,
) -> Decoded:
    """Unwrap a raw, SNS-in-SQS or EventBridge-in-SQS body; ``DecodeError`` names the problem."""
    obj = _parse(body, message_id)
    for route in _ROUTES:
        if route.matches(obj):
            inner, attrs = route.unwrap(obj, attributes, message_id)
            env = envelope_from_dict(inner, message_id)
            _check_attributes(env, attrs, message_id)
            name: Route = route.ROUTE
            return Decoded(envelope=env, route=name, attributes=attrs)
    keys = ", ".join(sorted(obj)[:8])
    raise DecodeError(
        "not a bus envelope: no specversion, not an SNS notification, not an EventBridge event "
        f"(keys: {keys})",
        message_id=message_id,
    )
