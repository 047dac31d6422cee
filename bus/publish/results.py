"""What a publish reports: one ``PublishResult`` per event, one ``Delivery`` per destination."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bus.errors import (
    BusError,
    EventError,
    EventValidationError,
    MessageTooLargeError,
    PublishError,
    UnknownEventError,
)


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
        if self.error is not None:
            return False
        for d in self.deliveries:  # noqa: SIM110 (a loop, not all(): read twice per event)
            if d.message_id is None or d.error_code is not None:
                return False
        return True

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


def failure_error(results: Sequence[PublishResult]) -> BusError | None:
    """The error ``check=True`` raises for ``results`` (``None`` when every event went out).

    - only events refused before sending failed: an ``EventError`` (exit code 3), the refused
      event's own error when there was one, else an ``EventValidationError`` naming every refused
      event (its ``fields`` the union of theirs; a ``MessageTooLargeError`` or
      ``UnknownEventError`` when every refusal was of that kind);
    - any delivery failed at AWS: a ``PublishError`` (an ``AwsError``, exit code 4) carrying the
      first AWS code and naming every failed event, the refused ones too, by index.
    """
    failed = [r for r in results if not r.ok]
    if not failed:
        return None
    refused = [r for r in failed if r.error is not None]
    undelivered = [r for r in failed if r.error is None]
    total = len(results)
    if not undelivered:
        return _refusal_error(refused, total)
    codes = [d.error_code for r in undelivered for d in r.failures if d.error_code]
    parts = [f"{len(undelivered)} failed at AWS"]
    if refused:
        parts.append(f"{len(refused)} refused before sending")
    lines = "\n".join(r.describe() for r in failed)
    return PublishError(
        f"{len(failed)} of {_events(total)} not fully published ({', '.join(parts)}):\n{lines}",
        failures={r.index: r.describe() for r in failed},
        code=codes[0] if codes else "Unknown",
    )


def _events(count: int) -> str:
    return f"{count} event{'s' if count != 1 else ''}"


def _refusal_error(refused: Sequence[PublishResult], total: int) -> EventError:
    errors = [r.error for r in refused if r.error is not None]
    if len(errors) == 1 and len(refused) == 1:
        error = errors[0]
        if total > 1:
            error.add_note(f"event #{refused[0].index} of {total}; the others were published")
        return error
    lines = "\n".join(r.describe() for r in refused)
    message = f"{len(refused)} of {_events(total)} refused before sending:\n{lines}"
    kinds = {type(e) for e in errors}
    if kinds == {MessageTooLargeError}:
        return MessageTooLargeError(message)
    if kinds == {UnknownEventError}:
        return UnknownEventError(message)
    types = sorted({r.event_type or "?" for r in refused})
    fields = dict.fromkeys(f for e in errors for f in getattr(e, "fields", ()))
    return EventValidationError(", ".join(types), message, list(fields))
