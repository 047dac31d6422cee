"""What dead-letters into a queue: a queue's redrive policy (SQS), an SNS subscription's redrive
policy (messages SNS could not deliver to the queue) or a rule target's dead-letter config (events
EventBridge could not deliver). ``Topology.dead_letter_feeds()`` lists them per DLQ."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

FeedKind = Literal["queue", "subscription", "target"]
SERVICES: dict[FeedKind, str] = {"queue": "SQS", "subscription": "SNS", "target": "EventBridge"}


@dataclass(frozen=True)
class DeadLetterFeed:
    """One way messages reach a dead-letter queue. ``queue`` is where they were going: the source
    queue of SQS's redrive, the subscribed queue, the target's queue."""

    kind: FeedKind
    queue: str
    topic: str | None = None
    """The subscription's topic."""
    rule: str | None = None
    target_id: str | None = None
    """The target's id when the topology declares one (else EventBridge's id is the queue's name)."""
    transformed: bool = False
    """The target delivers an ``input_path`` or ``input_transformer`` result, not the event."""

    @property
    def service(self) -> str:
        """The AWS service that writes the dead letters: ``SQS``, ``SNS`` or ``EventBridge``."""
        return SERVICES[self.kind]

    def physical(self, name: Callable[[str], str]) -> DeadLetterFeed:
        """The same feed with physical names (``name``: logical -> physical, e.g. with ``--env``)."""
        return replace(
            self,
            queue=name(self.queue),
            topic=name(self.topic) if self.topic else None,
            rule=name(self.rule) if self.rule else None,
        )

    def describe(self) -> str:
        """``billing``; ``topic orders -> billing``; ``rule high-value -> fraud-review`` (with the
        target id when one is declared)."""
        if self.kind == "subscription":
            return f"topic {self.topic} -> {self.queue}"
        if self.kind == "target":
            target = f" target {self.target_id}" if self.target_id else ""
            return f"rule {self.rule}{target} -> {self.queue}"
        return self.queue

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"service": self.service, "queue": self.queue}
        if self.kind == "subscription":
            out["topic"] = self.topic
        if self.kind == "target":
            out |= {"rule": self.rule, "target": self.target_id, "transformed": self.transformed}
        return out


def services_of(feeds: Iterable[DeadLetterFeed]) -> frozenset[str] | None:
    """The services that write into a DLQ fed by ``feeds`` (``SQS``, ``SNS``, ``EventBridge``);
    ``None`` when nothing is known of it (no feed: not a DLQ the topology declares)."""
    found = frozenset(f.service for f in feeds)
    return found or None
