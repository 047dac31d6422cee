"""How one PutEvents call delivers its events: a bus's enabled rules and their SQS targets.

At the start of a call each bus an entry names gets its ``Routes``: every enabled rule with its
compiled pattern and, once an event matches it, its targets, each resolved to the queue it writes
to (the target's queue, else the target's dead-letter queue with EventBridge's error attributes,
else nowhere: the event is dropped). A call runs without awaiting, so nothing changes under its
routes; the next call resolves them again. An event is written as JSON once, for all the targets
that take it whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bus.memory.eb_input import target_input, whole_event
from bus.memory.sqs import Inbox, MemorySqs

if TYPE_CHECKING:
    from bus.memory.events import Bus, Rule

ENABLED = ("ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")


@dataclass(slots=True)
class Target:
    """One target of a rule as one call delivers to it."""

    rule: Rule
    spec: dict[str, Any]
    """The target as ``PutTargets`` set it."""
    whole: bool
    """It takes the event itself (no ``Input``, ``InputPath`` or ``InputTransformer``)."""
    inbox: Inbox
    attributes: dict[str, Any]
    """Message attributes: EventBridge's error attributes when it writes to the dead-letter queue."""
    fifo: bool
    """The queue is FIFO: it gets the target's message group and the event id to deduplicate."""
    group: str | None


class RuleRoute:
    """One enabled rule as one call delivers through it: its targets resolved to queues when a
    first event matches it (a rule no event of the call matches costs no lookup)."""

    __slots__ = ("_now", "_sent_ms", "_sqs", "match", "rule", "targets")

    def __init__(self, sqs: MemorySqs, rule: Rule, now: float, sent_ms: int) -> None:
        self.rule, self.match = rule, rule.compiled.match
        self.targets: list[Target] | None = None
        self._sqs, self._now, self._sent_ms = sqs, now, sent_ms

    def resolve(self) -> list[Target]:
        """The rule's targets, each with the queue it writes to (undeliverable ones left out)."""
        sqs, rule, now, sent_ms = self._sqs, self.rule, self._now, self._sent_ms
        targets = [_target(sqs, rule, spec, now, sent_ms) for spec in rule.targets.values()]
        self.targets = [t for t in targets if t is not None]
        return self.targets


Routes = list[RuleRoute]
"""A bus's enabled rules, in order."""


def routes(sqs: MemorySqs, bus: Bus, now: float) -> Routes:
    """``bus``'s enabled rules, their targets to be resolved against the queues as they are now."""
    sent_ms = sqs.world.clock.epoch_ms(now)
    return [RuleRoute(sqs, rule, now, sent_ms) for rule in bus.rules.values()
            if rule.state in ENABLED]  # fmt: skip


def _target(
    sqs: MemorySqs, rule: Rule, spec: dict[str, Any], now: float, sent_ms: int
) -> Target | None:
    arn = str(spec.get("Arn", ""))
    queue = sqs.by_arn(arn)
    attributes: dict[str, Any] = {}
    if queue is None:
        dlq_arn = str(spec.get("DeadLetterConfig", {}).get("Arn", ""))
        queue = sqs.by_arn(dlq_arn) if dlq_arn else None
        if queue is None:
            return None  # undeliverable, no dead-letter queue: EventBridge drops it
        attributes = {k: {"DataType": "String", "StringValue": v} for k, v in {
            "RULE_ARN": rule.arn, "TARGET_ARN": arn, "ERROR_CODE": "NO_RESOURCE",
            "ERROR_MESSAGE": "The specified queue does not exist.",
            "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts", "RETRY_ATTEMPTS": "0",
        }.items()}  # fmt: skip
    whole = "Input" not in spec and "InputPath" not in spec and "InputTransformer" not in spec
    group = spec.get("SqsParameters", {}).get("MessageGroupId") if queue.fifo else None
    return Target(rule, spec, whole, sqs.inbox(queue, now, sent_ms), attributes, queue.fifo, group)


def deliver(event: dict[str, Any], routes: Routes, ingested: str) -> None:
    """Write ``event`` to the targets of every rule that matches it (``ingested``: the event's
    ingestion time, as ``<aws.events.event.ingestion-time>`` gives it)."""
    text = None
    one = (event,)
    for route in routes:
        if route.match(one):
            targets = route.targets
            if targets is None:
                targets = route.resolve()
            for target in targets:
                if target.whole:
                    if text is None:
                        text = whole_event(event)
                    body = text
                else:
                    rule = target.rule
                    body = target_input(target.spec, event, rule.arn, rule.name, ingested)
                dedup = event["id"] if target.fifo else None
                target.inbox.write(body, target.attributes, target.group, dedup)
