"""Pure preparation of events for sending: validate, encode, route, check sizes.

Everything that can be wrong with an event is found here, before any AWS call: an unknown type, no
destination, data that does not validate, a FIFO group id missing or outside what AWS allows, a
``traceparent`` that is not W3C Trace Context, text that cannot be encoded as UTF-8 (a lone
surrogate), an encoded size over a service limit. Validation re-reads the event from the JSON that will be sent (``model_validate_json``), so
what passes here is exactly what a consumer's model accepts.

What does not depend on the event (its type's fixed attributes and their size, the EventBridge
overhead, which channels are FIFO) is worked out once per event type (``EventRoute``), not per event.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from datetime import datetime
from functools import cached_property
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

from bus.aws.limits import (
    BATCH_ENTRIES,
    EVENTBRIDGE_ENTRY_BYTES,
    EVENTBRIDGE_TIME_BYTES,
    SNS_MESSAGE_BYTES,
    SQS_BATCH_BYTES,
    SQS_INVALID_TEXT,
    SQS_MESSAGE_BYTES,
)
from bus.envelope.attributes import (
    EVENT_TYPE,
    EVENT_VERSION,
    NUMBER_DIGITS,
    Attribute,
    attribute,
)
from bus.envelope.model import HeaderTemplate, encode_body, join_body, new_id, utc_now
from bus.envelope.read import envelope_from_dict
from bus.errors import EventValidationError, MessageTooLargeError, UnknownEventError
from bus.schema.registry import EventSpec, validation_error
from bus.topology.model import Destination, Topology

MAX_BATCH_ENTRIES = BATCH_ENTRIES
LIMITS: dict[str, int] = {
    "topic": SNS_MESSAGE_BYTES,
    "queue": SQS_MESSAGE_BYTES,
    "bus": EVENTBRIDGE_ENTRY_BYTES,
}
"""The largest event each kind of destination takes (``bus.aws.limits``): a topic's default
``MaximumMessageSize``, SQS's limit (a queue's own ``maximum_message_size`` may be lower), one
``PutEvents`` entry."""
BATCH_LIMITS: dict[str, int] = {
    "topic": SNS_MESSAGE_BYTES,
    "queue": SQS_BATCH_BYTES,
    "bus": EVENTBRIDGE_ENTRY_BYTES,
}
"""A batch call's entries together."""

GROUP_ID = re.compile(r"[!-~]{1,128}")
"""A FIFO ``MessageGroupId``: 1-128 alphanumerics and punctuation (ASCII 0x21-0x7e)."""
TRACEPARENT = re.compile(
    r"(?!ff)(?P<version>[0-9a-f]{2})-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}"
    r"(?P<rest>-.*)?",
    re.DOTALL,
)
"""W3C Trace Context: ``version-traceid-parentid-flags``, lowercase hex, ids not all zeros;
version ``ff`` is invalid, and only versions after ``00`` may carry more fields after the flags."""
TRACEPARENT_MAX_LENGTH = 512
"""A longer ``traceparent`` (a later version's extra fields) is ignored by consumers, as the
OpenTelemetry propagator ignores it: refused at publish."""

Kind = Literal["topic", "bus", "queue"]


@dataclass(frozen=True)
class Channel:
    """A destination with what publishing needs to know about it."""

    kind: Kind
    name: str
    fifo: bool = False
    limit: int = -1
    """The largest event it takes (default: ``LIMITS`` of its kind)."""

    label: str = dataclass_field(default="", init=False, compare=False)
    """``kind:name``, as results and errors name the channel."""
    _hash: int = dataclass_field(default=0, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.limit < 0:
            object.__setattr__(self, "limit", LIMITS[self.kind])
        object.__setattr__(self, "label", f"{self.kind}:{self.name}")
        object.__setattr__(self, "_hash", hash((self.kind, self.name, self.fifo, self.limit)))

    def __hash__(self) -> int:  # a key of every per-channel table, looked up for every event
        return self._hash

    @property
    def batch_bytes(self) -> int:
        """What one batch call to it may carry in all."""
        return BATCH_LIMITS[self.kind]


def channel_of(destination: Destination, topology: Topology) -> Channel:
    if destination.topic is not None:
        topic = topology.topics.get(destination.topic)
        return Channel("topic", destination.topic, fifo=bool(topic and topic.fifo))
    if destination.queue is not None:
        queue = topology.all_queues().get(destination.queue)
        limit = min(queue.maximum_message_size, SQS_MESSAGE_BYTES) if queue else SQS_MESSAGE_BYTES
        return Channel("queue", destination.queue, fifo=bool(queue and queue.fifo), limit=limit)
    return Channel("bus", str(destination.bus))


@dataclass(frozen=True)
class FlowContext:
    """Flow metadata every event of one publish call carries."""

    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None

    @cached_property
    def problem(self) -> tuple[str, str] | None:
        """``context_problem(self)``, worked out once (every event of a call shares it)."""
        return context_problem(self)


def valid_traceparent(text: str) -> bool:
    """Whether ``text`` is a W3C Trace Context ``traceparent`` (see ``TRACEPARENT``)."""
    if len(text) > TRACEPARENT_MAX_LENGTH:
        return False
    match = TRACEPARENT.fullmatch(text)
    return match is not None and not (match["version"] == "00" and match["rest"] is not None)


def _shown(text: str, limit: int = 80) -> str:
    """``text`` as an error shows it: its first ``limit`` characters and its length beyond."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text):,} characters)"


def _encodable(text: str) -> bool:
    """Whether ``text`` is valid UTF-8 material (no lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def context_problem(context: FlowContext) -> tuple[str, str] | None:
    """What is wrong with a call's flow metadata, as ``(field, message)``; ``None`` when nothing."""
    for field, value in (
        ("correlation_id", context.correlation_id),
        ("causation_id", context.causation_id),
        ("traceparent", context.traceparent),
    ):
        if value is not None and not _encodable(value):
            return field, f"{field} is not valid text (a lone surrogate cannot be UTF-8 encoded)"
    traceparent = context.traceparent
    if traceparent is not None and not valid_traceparent(traceparent):
        return "traceparent", (
            "traceparent must be W3C Trace Context (version-traceid-parentid-flags in "
            "lowercase hex, ids not all zeros, at most 512 characters, e.g. "
            f"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01), got {_shown(traceparent)}"
        )
    return None


def _check_context(spec: EventSpec, context: FlowContext) -> None:
    problem = context.problem
    if problem is not None:
        field, message = problem
        raise EventValidationError(spec.name, f"{spec.name}: {message}", [field])


@dataclass(frozen=True)
class EventRoute:
    """What preparing an event of one type needs, worked out once per type (``EventRoute.of``)."""

    spec: EventSpec
    channels: tuple[Channel, ...]
    fixed_attributes: MappingProxyType[str, Attribute]
    """``event_type`` and ``event_version``: the same for every event of the type."""
    fixed_bytes: int
    exposed: tuple[tuple[str, int], ...]
    """Each exposed field's name and the UTF-8 length of that name."""
    eventbridge_overhead: int
    """Bytes of a PutEvents entry beyond its ``Detail``: time, source and detail type."""
    fifo: tuple[str, ...]
    """Labels of the FIFO channels."""
    header: HeaderTemplate
    """The envelope header of its events, less what each event has of its own."""

    @classmethod
    def of(cls, spec: EventSpec, channels: tuple[Channel, ...]) -> EventRoute:
        fixed = {
            EVENT_TYPE: {"DataType": "String", "StringValue": spec.cloudevents_type},
            EVENT_VERSION: {"DataType": "Number", "StringValue": str(spec.version)},
        }
        return cls(
            spec=spec,
            channels=channels,
            fixed_attributes=MappingProxyType(fixed),
            fixed_bytes=sum(_attribute_bytes(len(n.encode()), a) for n, a in fixed.items()),
            exposed=tuple((name, len(name.encode())) for name in spec.attributes),
            eventbridge_overhead=EVENTBRIDGE_TIME_BYTES
            + len(spec.source.encode())
            + len(spec.cloudevents_type.encode()),
            fifo=tuple(c.label for c in channels if c.fifo),
            header=HeaderTemplate.of(
                type=spec.cloudevents_type, version=spec.version, source=spec.source
            ),
        )


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
    eventbridge_bytes: int
    """Size of its PutEvents entry (``Detail`` is the body)."""
    group_id: str | None
    channels: tuple[Channel, ...]

    def entry_size(self, channel: Channel) -> int:
        """Bytes this event counts for in a batch request to ``channel``."""
        if channel.kind == "bus":
            return self.eventbridge_bytes
        return self.body_bytes + self.attributes_bytes

    def traced(self, traceparent: str | None) -> Prepared:
        """This event with ``traceparent`` in its envelope (itself when it has it already, or
        ``traceparent`` is None): a message prepared earlier (an outbox row) takes the trace
        context of the publish that sends it."""
        if traceparent is None:
            return self
        obj = json.loads(self.body)
        if obj.get("traceparent") == traceparent:
            return self
        env = envelope_from_dict(obj)
        body = encode_body(replace(env, traceparent=traceparent))
        body_bytes = _utf8_len(body)
        return replace(
            self,
            body=body,
            body_bytes=body_bytes,
            eventbridge_bytes=self.eventbridge_bytes - self.body_bytes + body_bytes,
        )


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _attribute_bytes(name_bytes: int, attr: Attribute) -> int:
    """What SNS and SQS count for one attribute: name, data type and value, UTF-8."""
    return name_bytes + len(attr["DataType"]) + _utf8_len(attr["StringValue"])


def _data_json(spec: EventSpec, event: BaseModel) -> str:
    try:
        data_json = event.model_dump_json(by_alias=True, warnings=False)
    except PydanticSerializationError as exc:
        raise EventValidationError(spec.name, f"{spec.name}: cannot encode: {exc}") from exc
    try:
        spec.model.model_validate_json(data_json)
    except ValidationError as exc:
        raise validation_error(spec.name, spec.version, exc) from exc
    if data_json.isascii():  # JSON escapes every ASCII character SQS refuses
        return data_json
    return _escape_refused(data_json)


def _escape_refused(data_json: str) -> str:
    """``data_json`` with each character SQS refuses (U+FFFE, U+FFFF, outside XML 1.0) written as
    its JSON escape: such characters can only stand inside JSON strings, so the JSON means the
    same, and SQS (and SNS delivering to it) takes the message instead of refusing it."""
    return SQS_INVALID_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", data_json)


_PLAIN_INT = 10**NUMBER_DIGITS
"""An int under this in magnitude is a ``Number`` attribute as it is (at most 38 digits)."""


def _exposed_attribute(spec: EventSpec, name: str, value: object) -> Attribute | None:
    """``attribute(value)``, with plain non-empty strings and ints (the usual case) done inline."""
    if type(value) is str and value.isascii() and value.isprintable():  # else: attribute's check
        return {"DataType": "String", "StringValue": value} if value else None
    if type(value) is int and -_PLAIN_INT < value < _PLAIN_INT:  # else: attribute's range check
        return {"DataType": "Number", "StringValue": str(value)}
    try:
        return attribute(value)
    except ValueError as exc:
        raise EventValidationError(
            spec.name, f"{spec.name}: attribute {name!r}: {exc}", [name]
        ) from exc


def _attributes(route: EventRoute, event: BaseModel) -> tuple[dict[str, Attribute], int]:
    """The event's message attributes (as ``routing_attributes`` makes them) and their size."""
    out = dict(route.fixed_attributes)
    size = route.fixed_bytes
    for name, name_bytes in route.exposed:
        attr = _exposed_attribute(route.spec, name, getattr(event, name))
        if attr is not None:
            out[name] = attr
            size += _attribute_bytes(name_bytes, attr)
    return out, size


def _group_id(route: EventRoute, event: BaseModel) -> str | None:
    if not route.fifo:
        return None
    spec = route.spec
    field = spec.message_group_id
    if field is None:
        raise UnknownEventError(
            f"{spec.name} goes to FIFO {', '.join(route.fifo)} but declares no message_group_id"
        )
    value: Any = getattr(event, field, None)
    text = "" if value is None else str(value)
    if GROUP_ID.fullmatch(text) is None:
        raise EventValidationError(
            spec.name,
            f"{spec.name}: {field} (the FIFO message group id) must be 1-128 characters, each "
            f"a letter, digit or punctuation (ASCII ! to ~), got {value!r}",
            [field],
        )
    return text


def check_size(prepared: Prepared) -> None:
    """``MessageTooLargeError`` when ``prepared`` is over the limit of one of its channels."""
    for channel in prepared.channels:
        size = prepared.entry_size(channel)
        if size > channel.limit:
            raise MessageTooLargeError(
                f"{prepared.spec.name} {prepared.id}: encoded size {size} bytes is over the "
                f"{channel.limit}-byte limit of {channel.label}"
            )


def prepare_routed(
    index: int,
    route: EventRoute,
    event: BaseModel,
    context: FlowContext,
    *,
    check_size: bool = True,
) -> Prepared:
    """Validate and encode ``event``; raise the ``EventError`` that keeps it from being sent
    (``check_size`` false: all but a size over a limit, which the caller then checks)."""
    spec = route.spec
    if not route.channels:
        raise UnknownEventError(f"{spec.name} has no destination (publish_to is empty)")
    _check_context(spec, context)
    data_json = _data_json(spec, event)
    event_id = new_id()
    time = utc_now()
    head = route.header.render(
        event_id, time, context.correlation_id, context.causation_id, context.traceparent
    )
    body = join_body(head, data_json)
    body_bytes = _utf8_len(body)
    attributes, attributes_bytes = _attributes(route, event)
    prepared = Prepared(
        index=index,
        spec=spec,
        id=event_id,
        time=time,
        body=body,
        body_bytes=body_bytes,
        attributes=attributes,
        attributes_bytes=attributes_bytes,
        eventbridge_bytes=route.eventbridge_overhead + body_bytes,
        group_id=_group_id(route, event),
        channels=route.channels,
    )
    if check_size:
        _check_size(prepared)
    return prepared


_check_size = check_size


def prepare(
    index: int,
    spec: EventSpec,
    event: BaseModel,
    channels: tuple[Channel, ...],
    context: FlowContext,
) -> Prepared:
    """``prepare_routed`` for a one-off event (the Publisher keeps one ``EventRoute`` per type)."""
    return prepare_routed(index, EventRoute.of(spec, channels), event, context)
