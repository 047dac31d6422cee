"""Decode a consumed SQS message into its envelope, whichever route brought it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bus.envelope.attributes import EVENT_TYPE, EVENT_VERSION
from bus.envelope.model import Envelope, envelope_from_dict
from bus.envelope.unwrap import Route, parse_body, unwrap
from bus.errors import DecodeError


@dataclass(frozen=True)
class Decoded:
    """An envelope, the route that carried it and its attributes as ``{name: str}``.

    ``attributes`` are the message's own (SQS or SNS); ``event_type`` and ``event_version`` are
    filled from the envelope when the route carries none (EventBridge).
    """

    envelope: Envelope
    route: Route
    attributes: Mapping[str, str] = field(default_factory=dict)


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
    found = unwrap(parse_body(body, message_id), attributes, message_id)
    env = envelope_from_dict(found.inner, message_id)
    _check_attributes(env, found.attributes, message_id)
    return Decoded(envelope=env, route=found.route, attributes=found.attributes)
