"""The envelope: a CloudEvents 1.0 event in structured JSON mode (see docs/envelope.md).

Pure functions only: building an envelope for an event and encoding it as the message body;
``bus.envelope.read`` reads a body's envelope object back with every field checked.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any

from pydantic import BaseModel

from bus.schema.registry import EventSpec

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class Envelope:
    """One event with its metadata. ``data`` is the JSON-mode data, not yet validated."""

    id: str
    type: str
    version: int | None
    """``None``: the producer did not say (no ``eventversion``, no version in ``dataschema``);
    ``Registry.parse`` reads such data as the event type's current version."""
    source: str
    time: datetime | None
    """``None``: the producer did not say (``time`` is optional in CloudEvents)."""
    data: dict[str, Any]
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None
    dataschema: str | None = None
    subject: str | None = None


_VARIANT = "89ab89ab89ab89ab"
"""The RFC 4122 variant digit of a UUID for each value of the random nibble it replaces."""


def new_id() -> str:
    """A random (version 4) UUID as text, as ``str(uuid.uuid4())`` makes it: the same 122 random
    bits from ``os.urandom``, the version and variant bits set, without the ``UUID`` object."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16)]}{h[17:20]}-{h[20:]}"


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(time: datetime) -> str:
    """RFC 3339 in UTC with microseconds: ``2026-11-23T18:04:05.123456Z``."""
    if time.tzinfo is UTC and type(time) is datetime:  # utc_now()'s: less "+00:00"
        return time.isoformat(timespec="microseconds")[:-6] + "Z"
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
        type=spec.cloudevents_type,
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


def _check_version(version: object) -> None:
    if not isinstance(version, int) or isinstance(version, bool):
        raise TypeError(f"event version must be an int, got {version!r}")


def header(
    *,
    id: str,
    type: str,
    version: int | None,
    source: str,
    time: datetime | None,
    correlation_id: str | None,
    causation_id: str | None,
    traceparent: str | None,
    dataschema: str | None = None,
    subject: str | None = None,
) -> str:
    """The envelope's attributes (all but ``data``) as the start of a compact JSON object, in the
    documented order; ``join_body`` closes it. Built directly: this runs for every event.

    ``time`` and ``version`` are always given by a publisher; ``None`` (an envelope decoded from a
    producer that left them out, then replayed) leaves the attribute out, as it came."""
    if version is not None:
        _check_version(version)
    parts = [
        '{"specversion":"1.0","id":',
        _text_json(id),
        ',"source":',
        _text_json(source),
        ',"type":',
        _text_json(type),
    ]
    if subject is not None:
        parts += [',"subject":', _text_json(subject)]
    if time is not None:
        parts += [',"time":"', format_time(time), '"']
    parts.append(',"datacontenttype":"application/json"')
    if dataschema is not None:
        parts += [',"dataschema":', _text_json(dataschema)]
    if version is not None:
        parts += [',"eventversion":', str(version)]
    parts.append(_flow_text(correlation_id, causation_id, traceparent))
    return "".join(parts)


@dataclass(frozen=True)
class HeaderTemplate:
    """``header`` for one event type as a publisher writes it, with the parts that do not change
    from one event to the next encoded once (``HeaderTemplate.of``); ``render`` gives the bytes
    ``header`` gives."""

    after_id: str
    """From the end of the id to the start of the time: source and type."""
    after_time: str
    """From the end of the time to the end of the version."""

    @classmethod
    def of(cls, *, type: str, version: int, source: str) -> HeaderTemplate:
        _check_version(version)
        return cls(
            after_id=f',"source":{_text_json(source)},"type":{_text_json(type)},"time":"',
            after_time=f'","datacontenttype":"{CONTENT_TYPE}","eventversion":{version!s}',
        )

    def render(
        self,
        id: str,
        time: datetime,
        correlation_id: str | None,
        causation_id: str | None,
        traceparent: str | None,
    ) -> str:
        """``header(id=id, time=time, correlation_id=correlation_id or id, ...)`` of this type
        (a new flow's correlation id is its first event's id)."""
        if correlation_id:
            flow = _flow_json(correlation_id, causation_id, traceparent)
        else:
            flow = f',"correlationid":{_text_json(id)}{_flow_json(None, causation_id, traceparent)}'
        return (
            f'{{"specversion":"{SPEC_VERSION}","id":{_text_json(id)}{self.after_id}'
            f"{format_time(time)}{self.after_time}{flow}"
        )


def _flow_text(
    correlation_id: str | None, causation_id: str | None, traceparent: str | None
) -> str:
    """The flow attributes of a header, as ``header`` writes them."""
    parts = []
    for key, value in (
        ("correlationid", correlation_id),
        ("causationid", causation_id),
        ("traceparent", traceparent),
    ):
        if value is not None:
            parts += [',"', key, '":', _text_json(value)]
    return "".join(parts)


_flow_json = lru_cache(maxsize=256)(_flow_text)
"""``_flow_text``, encoded once for the events of one publish call (they share their flow)."""


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
        dataschema=env.dataschema,
        subject=env.subject,
    )


def encode_body(env: Envelope) -> str:
    """The message body (and EventBridge ``Detail``): the envelope as compact JSON."""
    data = json.dumps(env.data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return join_body(envelope_header(env), data)
