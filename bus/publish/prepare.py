"""Pure preparation of events for sending: validate, encode, route, check sizes.

Everything that can be wrong with an event is found here, before any AWS call: an unknown type, no
destination, data that does not validate, a missing FIFO group id, an encoded size over a service
limit. Validation re-reads the event from the JSON that will be sent (``model_validate_json``), so
what passes here is exactly what a consumer's model accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

from bus.envelope.attributes import Attribute, attributes_size, routing_attributes
from bus.envelope.model import header, join_body, new_id, utc_now
from bus.errors import EventValidationError, MessageTooLargeError, UnknownEventError
from bus.schema.registry import EventSpec, validation_error
from bus.topology.model import Destination, Topology

MAX_MESSAGE_BYTES = 262_144
"""SNS and SQS: body plus attributes; EventBridge: one PutEvents entry; and each batch request."""
MAX_BATCH_ENTRIES = 10
EVENTBRIDGE_TIME_BYTES = 14

Kind = Literal["topic", "bus", "queue"]


@dataclass(frozen=True)
class Channel:
    """A destination with what publishing needs to know about it."""

    kind: Kind
    name: str
    fifo: bool = False
    limit: int = MAX_MESSAGE_BYTES

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"


def channel_of(destination: Destination, topology: Topology) -> Channel:
    if destination.topic is not None:
        topic = topology.topics.get(destination.topic)
        return Channel("topic", destination.topic, fifo=bool(topic and topic.fifo))
    if destination.queue is not None:
        queue = topology.all_queues().get(destination.queue)
        limit = min(queue.maximum_message_size, MAX_MESSAGE_BYTES) if queue else MAX_MESSAGE_BYTES
        return Channel("queue", destination.queue, fifo=bool(queue and queue.fifo), limit=limit)
    return Channel("bus", str(destination.bus))


@dataclass(frozen=True)
class Context:
    """Flow metadata every event of one publish call carries."""

    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None


@dataclass(frozen=True)
class Prepared:
    """One validated, encoded event, ready for each of its channels."""

    index: int
    spec: EventSpec
    id: str
    time: datetime
    body: str
    body_bytes: int
    attributes: dict[str, Attribute]
    attributes_bytes: int
    group_id: str | None
    channels: tuple[Channel, ...]


def _data_json(spec: EventSpec, event: BaseModel) -> str:
    try:
        data_json = event.model_dump_json(by_alias=True, warnings=False)
    except PydanticSerializationError as exc:
        raise EventValidationError(spec.name, f"{spec.name}: cannot encode: {exc}") from exc
    try:
        spec.model.model_validate_json(data_json)
    except ValidationError as exc:
        raise validation_error(spec.name, spec.version, exc) from exc
    return data_json


def _group_id(spec: EventSpec, event: BaseModel, channels: tuple[Channel, ...]) -> str | None:
    fifo = [c.label for c in channels if c.fifo]
    if not fifo:
        return None
    field = spec.message_group_id
    if field is None:
        raise UnknownEventError(
            f"{spec.name} goes to FIFO {', '.join(fifo)} but declares no message_group_id"
        )
    value: Any = getattr(event, field, None)
    text = "" if value is None else str(value)
    if not text or len(text) > 128:
        raise EventValidationError(
            spec.name,
            f"{spec.name}: {field} (the FIFO message group id) must be 1-128 characters, "
            f"got {value!r}",
            [field],
        )
    return text


def _check_size(prepared: Prepared, event_type: str) -> None:
    sns_sqs = prepared.body_bytes + prepared.attributes_bytes
    events = (
        EVENTBRIDGE_TIME_BYTES
        + len(prepared.spec.source.encode())
        + len(event_type.encode())
        + prepared.body_bytes
    )
    for channel in prepared.channels:
        size = events if channel.kind == "bus" else sns_sqs
        if size > channel.limit:
            raise MessageTooLargeError(
                f"{event_type} {prepared.id}: encoded size {size} bytes is over the "
                f"{channel.limit}-byte limit of {channel.label}"
            )


def prepare(
    index: int,
    spec: EventSpec,
    event: BaseModel,
    channels: tuple[Channel, ...],
    context: Context,
) -> Prepared:
    """Validate and encode ``event``; raise the ``EventError`` that keeps it from being sent."""
    if not channels:
        raise UnknownEventError(f"{spec.name} has no destination (publish_to is empty)")
    data_json = _data_json(spec, event)
    event_id = new_id()
    time = utc_now()
    head = header(
        id=event_id,
        type=spec.name,
        version=spec.version,
        source=spec.source,
        time=time,
        correlation_id=context.correlation_id or event_id,
        causation_id=context.causation_id,
        traceparent=context.traceparent,
    )
    body = join_body(head, data_json)
    attributes = routing_attributes(spec, spec.name, spec.version, event)
    prepared = Prepared(
        index=index,
        spec=spec,
        id=event_id,
        time=time,
        body=body,
        body_bytes=len(body.encode()),
        attributes=attributes,
        attributes_bytes=attributes_size(attributes),
        group_id=_group_id(spec, event, channels),
        channels=channels,
    )
    _check_size(prepared, spec.name)
    return prepared
