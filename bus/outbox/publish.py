"""Publishing outbox rows through the Publisher, unchanged but for the trace context.

A row holds the message ``Outbox.add`` prepared (``table``). ``RestoreRows`` is a publish middleware
(``bus.middleware.PublishMiddleware``, the Publisher's public seam): for a ``Stored`` row it sets
the prepared message itself, routed by the *current* topology and with the row's stored body,
attributes and group id, instead of preparing an event; any other event passes through. So a row's
event id, time and FIFO deduplication id are those of the add, at every attempt (a consumer's
idempotency, and FIFO deduplication, see a re-sent copy as the same event). The row then goes on
through the other middlewares like any event: a tracing middleware opens the event's producer span
when it is sent (a child of the trace context given to ``Outbox.add``, if any), and the Publisher
stamps that span's ``traceparent`` in the envelope, the one change to a stored body. ``OutboxPublisher`` is
a plain ``Publisher`` with ``RestoreRows`` as its outermost middleware: batching, retries of
throttled entries, per-entry results and the batch hooks of the other middlewares are the
Publisher's own.

A row the topology no longer allows is refused, like an invalid event, with an ``EventError`` that
says why (the relay parks it with that error): its event type or version is no longer declared,
it has no destination, it now goes to a FIFO destination without a group id, or it is larger than
a destination's limit; and a row whose stored body or attributes are not what ``add`` stores (a
damaged or hand-edited row: a ``DecodeError`` naming the row and the column).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from bus.aws import AwsClients
from bus.errors import DecodeError, MessageTooLargeError, UnknownEventError
from bus.middleware.publish import NextEvent, Outgoing, PublishMiddleware
from bus.outbox.add import Outbox
from bus.publish import Publisher
from bus.publish.prepare import Prepared
from bus.schema.registry import Registry
from bus.topology.model import Topology


class Stored(BaseModel):
    """One outbox row handed to ``OutboxPublisher.publish_many`` (built without validation)."""

    model_config = ConfigDict(frozen=True)

    row_id: int
    event_id: str
    event_type: str
    event_version: int
    group_id: str | None
    body: str
    attributes: str
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> Stored:
        """From a row of ``outbox_table`` (a SQLAlchemy ``Row``)."""
        return cls.model_construct(
            row_id=row.id,
            event_id=row.event_id,
            event_type=row.event_type,
            event_version=row.event_version,
            group_id=row.group_id,
            body=row.body,
            attributes=row.attributes,
            created_at=row.created_at,
        )

    def describe(self) -> str:
        return f"{self.event_type} v{self.event_version} {self.event_id} (outbox row {self.row_id})"


def _traceparent(body: dict[str, Any]) -> str | None:
    """The trace context the row was added with (``Outbox.add(..., traceparent=...)``)."""
    value = body.get("traceparent")
    return value if isinstance(value, str) else None


def _stored(row: Stored, column: str, text: str) -> dict[str, Any]:
    """The JSON object ``row`` holds in ``column``; a ``DecodeError`` naming the row when it is
    not one (a row damaged or edited by hand is parked with that error, never retried for ever)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise DecodeError(f"{row.describe()}: its stored {column} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise DecodeError(f"{row.describe()}: its stored {column} is not a JSON object")
    return value


def _attributes(row: Stored) -> dict[str, Any]:
    """The row's message attributes, each a ``DataType`` and a ``StringValue`` (as ``add``
    stores them)."""
    attributes = _stored(row, "attributes", row.attributes)
    for name, attribute in attributes.items():
        if not (
            isinstance(attribute, dict)
            and isinstance(attribute.get("DataType"), str)
            and isinstance(attribute.get("StringValue"), str)
        ):
            raise DecodeError(
                f"{row.describe()}: its stored attribute {name!r} is not a DataType and a "
                "StringValue"
            )
    return attributes


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


class RestoreRows(PublishMiddleware):
    """The publish middleware that hands ``Stored`` rows to the Publisher as they were prepared."""

    def __init__(self, registry: Registry, topology: Topology) -> None:
        self.registry = registry
        self.routes = Outbox(registry, topology)
        """Routes by the current topology (worked out once per event type)."""

    async def event(self, outgoing: Outgoing, call_next: NextEvent) -> None:
        if isinstance(outgoing.event, Stored):
            row = outgoing.event
            body = _stored(row, "body", row.body)
            outgoing.prepared = self.restore(outgoing.index, row)
            outgoing.traceparent = _traceparent(body)
            # the inner middlewares see it as any event (a tracing middleware opens its
            # producer span, a child of the add's trace context, and sets its own)
        await call_next(outgoing)

    def restore(self, index: int, row: Stored) -> Prepared:
        """The prepared message of ``row``, routed by the current topology; raises the
        ``EventError`` that keeps it from being sent."""
        if row.event_type not in self.registry:
            raise UnknownEventError(
                f"{row.describe()}: event type {row.event_type} is no longer declared in the "
                "topology; declare it again and run `bus outbox retry`, or delete the row"
            )
        spec = self.registry.spec(row.event_type)
        if row.event_version not in spec.versions:
            known = ", ".join(str(v) for v in spec.versions)
            raise UnknownEventError(
                f"{row.describe()}: version {row.event_version} of {spec.name} is no longer "
                f"declared (declared: {known})"
            )
        route = self.routes.route(spec)
        if not route.channels:
            raise UnknownEventError(f"{row.describe()}: no destination (publish_to is empty)")
        if route.fifo and row.group_id is None:
            raise UnknownEventError(
                f"{row.describe()}: goes to FIFO {', '.join(route.fifo)} now, but was added "
                "without a message group id"
            )
        attributes = _attributes(row)
        body_bytes = _utf8_len(row.body)
        prepared = Prepared(
            index=index,
            spec=spec,
            id=row.event_id,
            time=row.created_at.replace(tzinfo=UTC),
            body=row.body,
            body_bytes=body_bytes,
            attributes=attributes,
            attributes_bytes=sum(
                _utf8_len(name) + len(a["DataType"]) + _utf8_len(a["StringValue"])
                for name, a in attributes.items()
            ),
            eventbridge_bytes=route.eventbridge_overhead + body_bytes,
            group_id=row.group_id if route.fifo else None,
            channels=route.channels,
        )
        if self.routes.topology.claim_check is not None:
            return prepared  # the Publisher's ClaimCheck offloads it, or refuses it, as it is
        for channel in prepared.channels:
            size = prepared.entry_size(channel)
            if size > channel.limit:
                raise MessageTooLargeError(
                    f"{row.describe()}: encoded size {size} bytes is over the {channel.limit}-byte "
                    f"limit of {channel.label}"
                )
        return prepared


class OutboxPublisher(Publisher):
    """A ``Publisher`` that also publishes ``Stored`` outbox rows (``RestoreRows`` first, then
    ``middleware``)."""

    def __init__(
        self,
        aws: AwsClients,
        registry: Registry,
        topology: Topology,
        env: str | None,
        *,
        middleware: Sequence[PublishMiddleware] = (),
        **options: Any,
    ) -> None:
        restore = RestoreRows(registry, topology)
        super().__init__(aws, registry, topology, env, middleware=[restore, *middleware], **options)
