"""The envelope: a CloudEvents 1.0 event in structured JSON mode (see docs/envelope.md).

Pure functions only: building an envelope for an event, encoding it as the message body, and reading
a body's envelope object back with every field checked.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from pydantic import BaseModel

from bus.errors import DecodeError
from bus.schema.registry import EventSpec

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class Envelope:
    """One event with its metadata. ``data`` is the JSON-mode data, not yet validated."""

    id: str
    type: str
    version: int
    source: str
    time: datetime
    data: dict[str, Any]
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None


def new_id() -> str:
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(time: datetime) -> str:
    """RFC 3339 in UTC with microseconds: ``2026-11-23T18:04:05.123456Z``."""
    if time.tzinfo is None:
        raise ValueError("envelope time must be timezone-aware (use datetime.now(UTC))")
    return time.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def new_envelope(
    spec: EventSpec,
    event: BaseModel,
    *,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    traceparent: str | None = None,
    id: str | None = None,
    time: datetime | None = None,
) -> Envelope:
    """The envelope for ``event``: a new id and time; a new flow's correlation id is its own id."""
    event_id = id or new_id()
    when = time or utc_now()
    format_time(when)  # refuse naive times here, not at encoding
    return Envelope(
        id=event_id,
        type=spec.name,
        version=spec.version,
        source=spec.source,
        time=when,
        data=event.model_dump(mode="json", by_alias=True),
        correlation_id=correlation_id or event_id,
        causation_id=causation_id,
        traceparent=traceparent,
    )


def _text_json(value: str) -> str:
    return encode_basestring(value)


def header(
    *,
    id: str,
    type: str,
    version: int,
    source: str,
    time: datetime,
    correlation_id: str | None,
    causation_id: str | None,
    traceparent: str | None,
) -> str:
    """The envelope's attributes (all but ``data``) as the start of a compact JSON object, in the
    documented order; ``join_body`` closes it. Built directly: this runs for every event."""
    if not isinstance(version, int) or isinstance(version, bool):
        raise TypeError(f"event version must be an int, got {version!r}")
    parts = [
        '{"specversion":"1.0","id":',
        _text_json(id),
        ',"source":',
        _text_json(source),
        ',"type":',
        _text_json(type),
        ',"time":"',
        format_time(time),
        '","datacontenttype":"application/json","eventversion":',
        str(version),
    ]
    for key, value in (
        ("correlationid", correlation_id),
        ("causationid", causation_id),
        ("traceparent", traceparent),
    ):
        if value is not None:
            parts += [',"', key, '":', _text_json(value)]
    return "".join(parts)


def join_body(head: str, data_json: str) -> str:
    """The body: ``head`` (from ``header``) with ``"data": <data_json>`` and the closing brace."""
    return f'{head},"data":{data_json}}}'


def envelope_header(env: Envelope) -> str:
    return header(
        id=env.id,
        type=env.type,
        version=env.version,
        source=env.source,
        time=env.time,
        correlation_id=env.correlation_id,
        causation_id=env.causation_id,
        traceparent=env.traceparent,
    )


def encode_body(env: Envelope) -> str:
    """The message body (and EventBridge ``Detail``): the envelope as compact JSON."""
    data = json.dumps(env.data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return join_body(envelope_header(env), data)


# -- reading -----------------------------------------------------------------------------------


def _text(obj: dict[str, Any], key: str, message_id: str | None, *, required: bool) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        got = "missing" if key not in obj else f"got {value!r}"
        raise DecodeError(
            f"envelope field {key!r} must be a non-empty string ({got})", message_id=message_id
        )
    return value


def _time(value: str, message_id: str | None) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise DecodeError(
            f"envelope field 'time' must be an RFC 3339 time with offset (got {value!r})",
            message_id=message_id,
        )
    return parsed.astimezone(UTC)


def envelope_from_dict(obj: object, message_id: str | None = None) -> Envelope:
    """The ``Envelope`` in a decoded body object; ``DecodeError`` naming the faulty field."""
    if not isinstance(obj, dict):
        raise DecodeError(
            f"envelope must be a JSON object, got {type(obj).__name__}", message_id=message_id
        )
    if obj.get("specversion") != SPEC_VERSION:
        raise DecodeError(
            f"envelope field 'specversion' must be {SPEC_VERSION!r} (got {obj.get('specversion')!r})",
            message_id=message_id,
        )
    content_type = obj.get("datacontenttype")
    if content_type is not None and not str(content_type).startswith(CONTENT_TYPE):
        raise DecodeError(
            f"envelope field 'datacontenttype' must be {CONTENT_TYPE!r} (got {content_type!r})",
            message_id=message_id,
        )
    version = obj.get("eventversion")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise DecodeError(
            f"envelope field 'eventversion' must be a positive integer (got {version!r})",
            message_id=message_id,
        )
    data = obj.get("data")
    if not isinstance(data, dict):
        raise DecodeError(
            f"envelope field 'data' must be a JSON object (got {type(data).__name__})",
            message_id=message_id,
        )
    time = _time(str(_text(obj, "time", message_id, required=True)), message_id)
    return Envelope(
        id=str(_text(obj, "id", message_id, required=True)),
        type=str(_text(obj, "type", message_id, required=True)),
        version=version,
        source=str(_text(obj, "source", message_id, required=True)),
        time=time,
        data=data,
        correlation_id=_text(obj, "correlationid", message_id, required=False),
        causation_id=_text(obj, "causationid", message_id, required=False),
        traceparent=_text(obj, "traceparent", message_id, required=False),
    )
