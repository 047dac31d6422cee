"""What a publish call hands back: one ``PublishResult`` per event, from the pipeline's outcomes."""

from __future__ import annotations

from typing import NamedTuple

import structlog

from bus.publish.delivery import Outcomes
from bus.publish.prepare import Channel, Prepared
from bus.publish.results import Delivery, PublishResult
from bus.publish.senders import entry_id

log = structlog.get_logger("bus.publish")


class Sent(NamedTuple):
    """What the result of an event handed to the pipeline needs (not its body); a tuple, made for
    every event."""

    position: int
    """The event's index in the call (``index`` is a tuple method)."""
    event_type: str
    event_id: str
    channels: tuple[Channel, ...]
    entry_id: str

    @classmethod
    def of(cls, item: Prepared) -> Sent:
        return cls(item.index, item.spec.name, item.id, item.channels, entry_id(item))

    def result(self, outcomes: dict[Channel, Outcomes]) -> PublishResult:
        deliveries = []
        for channel in self.channels:
            o = outcomes[channel][self.entry_id]
            deliveries.append(Delivery(channel.label, o.message_id, o.code, o.message))
        return PublishResult(self.position, self.event_type, self.event_id, tuple(deliveries))


def collect_results(
    sent: list[Sent], outcomes: dict[Channel, Outcomes], refused: dict[int, PublishResult]
) -> list[PublishResult]:
    """One result per event, in order; failed deliveries are logged."""
    if refused:
        results = dict(refused)
        for item in sent:
            results[item.position] = item.result(outcomes)
        ordered = [results[i] for i in sorted(results)]
    else:  # ``sent`` is in the order the events were handed over: by index
        ordered = [item.result(outcomes) for item in sent]
    for r in ordered:
        if r.error is None and not r.ok:
            log.warning("publish.failed", result=r.describe())
    return ordered
