"""What a publish reports: one ``PublishResult`` per event, one ``Delivery`` per destination."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bus.errors import EventError, PublishError


@dataclass(frozen=True)
class Delivery:
    """One destination of one event: its message id, or the AWS error code that stopped it."""

    destination: str
    """``topic:orders``, ``bus:shop-events`` or ``queue:billing`` (logical names)."""
    message_id: str | None = None
    error_code: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.message_id is not None and self.error_code is None

    def __str__(self) -> str:
        if self.ok:
            return f"{self.destination} {self.message_id}"
        return f"{self.destination} failed: {self.error_code}: {self.error}"


@dataclass(frozen=True)
class PublishResult:
    """The fate of one event: delivered everywhere, partly, or refused before sending."""

    index: int
    """Position of the event in the ``publish_many`` call (0 for ``publish``)."""
    event_type: str | None
    event_id: str | None
    deliveries: tuple[Delivery, ...] = ()
    error: EventError | None = None
    """Set when the event was refused before any call (invalid, unknown, too large)."""

    @property
    def ok(self) -> bool:
        return self.error is None and all(d.ok for d in self.deliveries)

    @property
    def message_ids(self) -> tuple[str, ...]:
        return tuple(d.message_id for d in self.deliveries if d.message_id is not None)

    @property
    def failures(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if not d.ok)

    def describe(self) -> str:
        """One line: what happened to this event."""
        head = f"#{self.index} {self.event_type or '?'} {self.event_id or '-'}"
        if self.error is not None:
            return f"{head}: not sent: {self.error}"
        return f"{head}: " + "; ".join(str(d) for d in self.deliveries)


def failure_error(results: Sequence[PublishResult]) -> PublishError | None:
    """A ``PublishError`` naming every failed event by index (``None`` when all went out)."""
    failed = [r for r in results if not r.ok]
    if not failed:
        return None
    codes = [d.error_code for r in failed for d in r.failures if d.error_code]
    code = codes[0] if codes else "InvalidEvent"
    lines = "\n".join(r.describe() for r in failed)
    count = len(failed)
    return PublishError(
        f"{count} of {len(results)} event{'s' if len(results) != 1 else ''} not fully "
        f"published:\n{lines}",
        failures={r.index: r.describe() for r in failed},
        code=code,
    )
