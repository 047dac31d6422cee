"""Decode a consumed SQS message into its envelope, whichever route brought it.

Every body is read within the limits of ``bus.envelope.limits``; every problem, whatever the input,
is a ``DecodeError`` whose text names it (the worker dead-letters those at once, reason
``decode-error``). The texts name the shapes foreign producers send most: bare data where an
envelope belongs (raw, in an SNS ``Message``, in an EventBridge ``detail``), a CloudEvents batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bus.envelope.attributes import EVENT_TYPE, EVENT_VERSION
from bus.envelope.limits import MAX_BODY_BYTES, check_text, check_value, load_json, too_deep
from bus.envelope.model import Envelope
from bus.envelope.read import MAX_VERSION, VERSION_TEXT, envelope_from_dict
from bus.envelope.unwrap import ROUTES as _ROUTES
from bus.envelope.unwrap import Route
from bus.errors import DecodeError

_WHERE = {
    "sqs": "body",
    "sns": "SNS notification's Message",
    "eventbridge": "EventBridge event's detail",
}


@dataclass(frozen=True)
class Decoded:
    """An envelope, the route that carried it and its attributes as ``{name: str}``.

    ``attributes`` are the message's own (SQS or SNS); ``event_type`` and ``event_version`` are
    filled from the envelope when the route carries none (EventBridge), ``event_version`` only
    when the envelope names a version.
    """

    envelope: Envelope
    route: Route
    attributes: Mapping[str, str] = field(default_factory=dict)


def _parse(body: object, message_id: str | None, max_bytes: int) -> dict[str, Any]:
    obj = load_json(body, "body", message_id, max_bytes)
    if isinstance(obj, list):
        raise DecodeError(
            "body is a JSON list, not an object (a CloudEvents batch? bus reads one event "
            "per message)",
            message_id=message_id,
        )
    if not isinstance(obj, dict):
        raise DecodeError(
            f"body is a JSON {type(obj).__name__}, not an object", message_id=message_id
        )
    return obj


def _keys(obj: Mapping[str, Any]) -> str:
    names = sorted(obj)
    shown = ", ".join(k if len(k) <= 40 else k[:40] + "..." for k in names[:8])
    return shown + (", ..." if len(names) > 8 else "")


def _not_an_envelope(where: str, inner: Mapping[str, Any], message_id: str | None) -> DecodeError:
    return DecodeError(
        f"{where} is not a bus envelope: no 'specversion' (keys: {_keys(inner) or 'none'}); bare "
        "event data must be wrapped in a CloudEvents 1.0 envelope (docs/envelope.md)",
        message_id=message_id,
    )


def _check_detail(body: Mapping[str, Any], message_id: str | None) -> None:
    """Bare data as an EventBridge ``detail`` is named as such, before any field comparison."""
    detail = body.get("detail")
    if isinstance(detail, Mapping) and "specversion" not in detail:
        where = (
            f"EventBridge event {body.get('id')} (source {body.get('source')!r}, detail-type "
            f"{body.get('detail-type')!r}): detail"
        )
        raise _not_an_envelope(where, detail, message_id)


def _check_attributes(env: Envelope, attrs: dict[str, str], message_id: str | None) -> Envelope:
    """Attributes agree with the envelope; an envelope without a version takes the
    ``event_version`` attribute's when there is one."""
    for name, value in attrs.items():
        if not (name.isascii() and value.isascii()):  # ASCII holds no surrogate: the usual case
            check_text(name, "an attribute name", message_id)
            check_text(value, f"attribute {name}", message_id)
    if env.version is None and EVENT_VERSION in attrs:
        given = attrs[EVENT_VERSION]
        if not VERSION_TEXT.fullmatch(given) or int(given) > MAX_VERSION:
            raise DecodeError(
                f"attribute {EVENT_VERSION}={given!r} is not a positive integer",
                message_id=message_id,
            )
        env = dataclasses.replace(env, version=int(given))
    expected = [(EVENT_TYPE, env.type)]
    if env.version is not None:
        expected.append((EVENT_VERSION, str(env.version)))
    for name, value in expected:
        given = attrs.setdefault(name, value)
        if given != value:
            raise DecodeError(
                f"attribute {name}={given!r} disagrees with the envelope ({value!r})",
                message_id=message_id,
            )
    return env


def decode(
    body: str | bytes,
    attributes: Mapping[str, Any] | None = None,
    *,
    message_id: str | None = None,
    max_bytes: int = MAX_BODY_BYTES,
) -> Decoded:
    """Unwrap a raw, SNS-in-SQS or EventBridge-in-SQS body; ``DecodeError`` names the problem,
    whatever ``body`` and ``attributes`` hold. ``max_bytes``: the body's limit (a claim-checked
    payload fetched from S3 may be larger than any message)."""
    if attributes is not None and not isinstance(attributes, Mapping):
        raise DecodeError(
            f"message attributes are a {type(attributes).__name__}, not a mapping",
            message_id=message_id,
        )
    obj = _parse(body, message_id, max_bytes)
    for route in _ROUTES:
        if not route.matches(obj):
            continue
        name: Route = route.ROUTE
        if name == "eventbridge":
            _check_detail(obj, message_id)
        try:
            inner, attrs = route.unwrap(obj, attributes, message_id)
        except RecursionError:  # an SNS Message nested too deep for json.loads
            raise too_deep(_WHERE[name], message_id) from None
        if name == "sns":  # parsed from Message's text (other routes' are parts of the body)
            message = obj.get("Message")
            check_value(
                inner, _WHERE[name], message_id, message if isinstance(message, str) else None
            )
        if isinstance(inner, Mapping) and "specversion" not in inner:
            raise _not_an_envelope(_WHERE[name], inner, message_id)
        env = envelope_from_dict(inner, message_id)
        env = _check_attributes(env, attrs, message_id)
        return Decoded(envelope=env, route=name, attributes=attrs)
    raise DecodeError(
        "body is not a bus envelope: no 'specversion', not an SNS notification, not an "
        f"EventBridge event (keys: {_keys(obj) or 'none'}); bare event data must be wrapped in a "
        "CloudEvents 1.0 envelope (docs/envelope.md)",
        message_id=message_id,
    )
