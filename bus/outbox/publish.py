"""Publishing outbox rows through the Publisher, unchanged.

A row holds the message ``Outbox.add`` prepared (``table``). ``OutboxPublisher`` is a ``Publisher``
whose ``publish_many`` also takes ``Stored`` rows: each is routed by the *current* topology and sent
with its stored body, attributes and group id, so its event id, time and FIFO deduplication id are
those of the add, at every attempt (a consumer's idempotency, and FIFO deduplication, see a
re-sent copy as the same event). Batching, retries of throttled entries and per-entry results are
the Publisher's own.

A row the topology no longer allows is refused, like an invalid event, with an ``EventError`` that
says why (the relay parks it with that error): its event type or version is no longer declared,
it has no destination, it now goes to a FIFO destination without a group id, or it is larger than
a destination's limit.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from bus.errors import MessageTooLargeError, UnknownEventError
from bus.publish import Publisher
from bus.publish.prepare import FlowContext, Prepared


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


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


class OutboxPublisher(Publisher):
    """A ``Publisher`` that also publishes ``Stored`` outbox rows as they were prepared."""

    def _prepare(self, index: int, event: BaseModel, context: FlowContext) -> Prepared:
        if isinstance(event, Stored):
            return self.restore(index, event)
        return super()._prepare(index, event, context)

    def _type_name(self, event: object) -> str | None:
        if isinstance(event, Stored):
            return event.event_type
        return super()._type_name(event)

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
        route = self.route(spec)
        if not route.channels:
            raise UnknownEventError(f"{row.describe()}: no destination (publish_to is empty)")
        if route.fifo and row.group_id is None:
            raise UnknownEventError(
                f"{row.describe()}: goes to FIFO {', '.join(route.fifo)} now, but was added "
                "without a message group id"
            )
        attributes = json.loads(row.attributes)
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
        for channel in prepared.channels:
            size = prepared.entry_size(channel)
            if size > channel.limit:
                raise MessageTooLargeError(
                    f"{row.describe()}: encoded size {size} bytes is over the {channel.limit}-byte "
                    f"limit of {channel.label}"
                )
        return prepared
