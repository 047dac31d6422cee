"""The envelope codec (pure): events <-> message bodies and attributes, for every AWS route.

One small module per route a message can take into SQS (``sqs``: raw, ``sns``: SNS-in-SQS,
``eventbridge``: EventBridge-in-SQS); ``decode`` tries them in turn, within the limits of
``limits``; ``read`` checks the envelope's fields. See docs/envelope.md.
"""

from __future__ import annotations

from pydantic import BaseModel

from bus.envelope.attributes import (
    EVENT_TYPE,
    EVENT_VERSION,
    Attribute,
    attributes_size,
    normalise,
    routing_attributes,
)
from bus.envelope.decode import Decoded, decode
from bus.envelope.limits import MAX_BODY_BYTES, MAX_DEPTH, load_json
from bus.envelope.model import (
    CONTENT_TYPE,
    SPEC_VERSION,
    Envelope,
    encode_body,
    format_time,
    new_envelope,
)
from bus.envelope.read import envelope_from_dict
from bus.envelope.unwrap import Route
from bus.schema.registry import EventSpec


def message_attributes(env: Envelope, spec: EventSpec, event: BaseModel) -> dict[str, Attribute]:
    """The SNS/SQS message attributes of ``env`` (``event`` is its validated model)."""
    return routing_attributes(spec, env.type, env.version, event)


__all__ = [
    "CONTENT_TYPE",
    "EVENT_TYPE",
    "EVENT_VERSION",
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "SPEC_VERSION",
    "Attribute",
    "Decoded",
    "Envelope",
    "Route",
    "attributes_size",
    "decode",
    "encode_body",
    "envelope_from_dict",
    "format_time",
    "load_json",
    "message_attributes",
    "new_envelope",
    "normalise",
]
