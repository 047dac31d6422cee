"""The log fields of a delivery: every line about one message carries them.

``message_id``, ``event_type``, ``attempt``, ``correlation_id`` (and, once the body is decoded,
``event_id`` and ``traceparent``); ``queue`` comes from the consumer's logger. The correlation id
is the flow's: the envelope's, or for an event that starts a flow its own id (what follow-up events
published through ``ctx.publisher`` carry).
"""

from __future__ import annotations

from typing import Any

from bus.envelope import Envelope, decode
from bus.worker.message import Received

Fields = dict[str, Any]


def envelope_fields(msg: Received, env: Envelope, attempt: int) -> Fields:
    """The fields of a decoded delivery."""
    return {
        "message_id": msg.message_id,
        "attempt": attempt,
        "event_type": env.type,
        "correlation_id": env.correlation_id or env.id,
        "event_id": env.id,
        "traceparent": env.traceparent,
    }


def message_fields(msg: Received, attempt: int | None = None) -> Fields:
    """The fields known before decoding: the event type from its attribute, no correlation id."""
    return {
        "message_id": msg.message_id,
        "attempt": msg.receive_count if attempt is None else attempt,
        "event_type": msg.string_attribute("event_type"),
        "correlation_id": None,
    }


def delivery_fields(msg: Received, attempt: int | None = None) -> Fields:
    """The fields of ``msg``, its body decoded when it can be (for the rare lines logged away from
    the dispatcher: a failed release, an unexpected error)."""
    try:
        env = decode(msg.body, msg.attributes, message_id=msg.message_id).envelope
    except Exception:  # an undecodable body: the fields known without it
        return message_fields(msg, attempt)
    return envelope_fields(msg, env, msg.receive_count if attempt is None else attempt)
