"""The one envelope unwrapper: which AWS route brought a body, and the envelope object inside it.

The routes are tried in order (``sns``: SNS-in-SQS, ``eventbridge``: EventBridge-in-SQS, ``sqs``:
raw); each small module says what its body looks like (``matches``) and how to take the envelope
out (``unwrap``). The worker's decoder and the DLQ tools both unwrap here, so both read a body the
same way; the DLQ tools only report what the decoder would refuse instead of raising.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bus.envelope import eventbridge, sns, sqs
from bus.envelope.limits import load_json
from bus.errors import DecodeError

Route = Literal["sqs", "sns", "eventbridge"]

ROUTES = (sns, eventbridge, sqs)


@dataclass(frozen=True)
class Unwrapped:
    """The envelope object a route carried, the route, and the message's attributes as text."""

    inner: object
    route: Route
    attributes: dict[str, str]


def parse_body(body: str | bytes, message_id: str | None) -> dict[str, Any]:
    """The body as a JSON object within the decoder's limits (``limits``); ``DecodeError`` if not."""
    obj = load_json(body, "body", message_id)
    if not isinstance(obj, dict):
        raise DecodeError(
            f"body is a JSON {type(obj).__name__}, not an object", message_id=message_id
        )
    return obj


def unwrap(
    obj: Mapping[str, Any], attributes: Mapping[str, Any] | None, message_id: str | None
) -> Unwrapped:
    """The envelope object inside a parsed body; ``DecodeError`` names what does not fit."""
    for route in ROUTES:
        if route.matches(obj):
            inner, attrs = route.unwrap(obj, attributes, message_id)
            name: Route = route.ROUTE
            return Unwrapped(inner, name, attrs)
    keys = ", ".join(sorted(obj)[:8])
    raise DecodeError(
        "not a bus envelope: no specversion, not an SNS notification, not an EventBridge event "
        f"(keys: {keys})",
        message_id=message_id,
    )
