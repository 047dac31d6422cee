"""The handler context: what a handler may want to know about the delivery it is handling.

``async def handler(event: OrderPlaced, ctx: Context) -> None`` (the context is optional: a
handler that takes only the event gets none). ``ctx.publisher`` publishes follow-up events in the
same flow: they carry this event's correlation id, this event's id as their causation id, and the
same ``traceparent``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from bus.envelope import Envelope

if TYPE_CHECKING:
    from bus.publish.publisher import EventPublisher, Publisher


class Context:
    """One delivery of one event to one handler."""

    __slots__ = (
        "_bound",
        "_publisher",
        "attempt",
        "envelope",
        "log",
        "message_id",
        "queue",
        "try_number",
    )

    def __init__(
        self,
        *,
        message_id: str,
        queue: str,
        attempt: int,
        envelope: Envelope,
        log: structlog.typing.FilteringBoundLogger,
        publisher: Publisher | None,
    ) -> None:
        self.message_id = message_id
        """The SQS message id of this delivery."""
        self.queue = queue
        """The queue's logical name (as in topology.yaml)."""
        self.attempt = attempt
        """The delivery attempt: 1 on the first delivery, 2 on the first redelivery, ... (SQS's
        receive count; on FIFO queues, which redeliver in-process, plus those redeliveries)."""
        self.try_number = 1
        """The in-process try within this delivery (transient errors are tried again)."""
        self.envelope = envelope
        """The event's metadata: id, type, version, source, time, correlation and causation ids,
        traceparent (and its raw data)."""
        self.log = log
        """A structlog logger bound with message id, queue, event type, attempt, correlation id
        (also bound in structlog's context variables while the handler runs)."""
        self._publisher = publisher
        self._bound: EventPublisher | None = None

    @property
    def publisher(self) -> EventPublisher:
        """The worker's publisher, bound to this event's flow (made on first use)."""
        if self._bound is None:
            if self._publisher is None:
                raise RuntimeError("this worker was started without a publisher")
            env = self.envelope
            self._bound = self._publisher.bind(
                correlation_id=env.correlation_id or env.id,
                causation_id=env.id,
                traceparent=env.traceparent,
            )
        return self._bound

    @property
    def event_id(self) -> str:
        return self.envelope.id

    @property
    def correlation_id(self) -> str | None:
        return self.envelope.correlation_id
