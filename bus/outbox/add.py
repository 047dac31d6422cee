"""``Outbox.add``: validate an event as ``publish`` does and insert it in the caller's transaction.

::

    outbox = Outbox.load(Settings.from_env())      # once, at start-up
    with Session(engine) as session, session.begin():
        session.add(Order(...))
        outbox.add(session, OrderPlaced(...))       # commits, or rolls back, with the order

``add`` runs the Publisher's own preparation (``prepare_routed``: the registry lookup, validation of
the JSON a consumer will read, the envelope, attributes, FIFO group id, size limits) and raises its
errors (``UnknownEventError``, ``EventValidationError``, ``MessageTooLargeError``) before anything
is written. The row holds the prepared message (``table``); the relay sends it later, unchanged.
``add`` only calls ``session.add``: it works alike with a ``Session`` and an ``AsyncSession`` and
does no I/O (the row is inserted at the session's next flush, in its transaction).
"""

from __future__ import annotations

import json
from datetime import UTC

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bus.outbox.table import PENDING, OutboxRow
from bus.publish import load_registry
from bus.publish.prepare import EventRoute, FlowContext, Prepared, channel_of, prepare_routed
from bus.schema.registry import EventSpec, Registry
from bus.settings import Settings
from bus.topology.model import Topology


class Outbox:
    """Adds events to the outbox table, validated against the topology's event types."""

    def __init__(self, registry: Registry, topology: Topology) -> None:
        self.registry = registry
        self.topology = topology
        self._routes: dict[str, EventRoute] = {}

    @classmethod
    def load(cls, settings: Settings | None = None) -> Outbox:
        """The outbox of the topology ``settings`` names (``Settings.from_env()`` by default)."""
        settings = settings or Settings.from_env()
        topology, registry = load_registry(settings.topology_path, settings.env)
        return cls(registry, topology)

    def route(self, spec: EventSpec) -> EventRoute:
        """What preparing an event of type ``spec`` needs, as the Publisher works it out."""
        found = self._routes.get(spec.name)
        if found is None:
            channels = tuple(dict.fromkeys(channel_of(d, self.topology) for d in spec.destinations))
            found = self._routes[spec.name] = EventRoute.of(spec, channels)
        return found

    def prepare(
        self,
        event: BaseModel,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
    ) -> Prepared:
        """``event`` validated and encoded exactly as ``Publisher.publish`` would; raises its
        ``EventError`` when it could not be published."""
        spec = self.registry.event_type_of(event)
        context = FlowContext(correlation_id, causation_id, traceparent)
        section = self.topology.claim_check
        prepared = prepare_routed(0, self.route(spec), event, context, check_size=section is None)
        if section is not None:  # a large event is stored whole; the relay offloads it to S3
            from bus.claimcheck.offload import check_claimable

            check_claimable(prepared, section)
        return prepared

    def add(
        self,
        session: Session | AsyncSession,
        event: BaseModel,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
    ) -> str:
        """Validate ``event`` and add its row to ``session`` (its transaction); the event id."""
        prepared = self.prepare(
            event,
            correlation_id=correlation_id,
            causation_id=causation_id,
            traceparent=traceparent,
        )
        session.add(row_of(prepared))
        return prepared.id


def row_of(prepared: Prepared) -> OutboxRow:
    """The outbox row that publishes ``prepared`` later."""
    created = prepared.time.astimezone(UTC).replace(tzinfo=None)
    return OutboxRow(
        event_id=prepared.id,
        event_type=prepared.spec.name,
        event_version=prepared.spec.version,
        group_id=prepared.group_id,
        body=prepared.body,
        attributes=json.dumps(prepared.attributes, ensure_ascii=False, separators=(",", ":")),
        state=PENDING,
        attempts=0,
        created_at=created,
        available_at=created,
    )
