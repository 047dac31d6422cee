"""A user's consume middleware, as topology.yaml declares one: counts outcomes into a file."""

from __future__ import annotations

from pathlib import Path

from bus.middleware import CallNext, Incoming


class Counter:
    """Appends one line per delivery, ``<label> <outcome kind> <event type>``, to ``path``."""

    def __init__(self, path: str, label: str = "count") -> None:
        self.path = Path(path)
        self.label = label

    async def __call__(self, delivery: Incoming, call_next: CallNext) -> None:
        await call_next(delivery)
        kind = delivery.outcome.kind if delivery.outcome else "none"
        event_type = delivery.envelope.type if delivery.envelope else "-"
        with self.path.open("a") as out:
            out.write(f"{self.label} {kind} {event_type}\n")
