"""How one Publish or PublishBatch call fans its messages out to a topic's subscriptions.

At the start of a call each subscription becomes a ``Route``: its compiled filter policy and scope,
whether it wraps the message in SNS's notification and, once a message matches it, where it
writes (the subscribed queue, else the subscription's dead-letter queue, else nowhere: SNS loses
the message). A call runs without awaiting, so nothing changes under its routes; the next call
resolves them again, so a subscription, policy or queue changed between calls is seen at once.

Per message, what filter policies read is computed once and only when read: the body parsed for
the first body-scoped policy whose required strings it contains (``Compiled.may_match``), each
attribute converted for the first policy that names it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bus.jsontext import loads
from bus.memory.matching import Compiled
from bus.memory.queue import Queue
from bus.memory.sns_delivery import Published, Subscription
from bus.memory.sqs import Inbox, MemorySqs

_UNPARSED = object()


@dataclass(slots=True)
class Route:
    """One subscription as one call delivers through it."""

    subscription: Subscription
    compiled: Compiled | None
    """The filter policy (``None``: every message passes)."""
    body_scope: bool
    """The policy reads the message body (``FilterPolicyScope: MessageBody``)."""
    wrapped: bool
    """Deliver SNS's JSON notification (not raw; a dead-letter queue gets the message raw)."""
    resolved: bool = False
    """The queue has been looked up (at the first message through it)."""
    fifo: bool = False
    """The queue written to is FIFO (it gets the message group and deduplication ids)."""
    inbox: Inbox | None = None
    """Where it writes (``None``: no queue and no dead-letter queue, the message is lost)."""


class Fanout:
    """One call's routes: a topic's subscriptions, each resolved to its queue when a first
    message goes through it (a subscription no message of the call matches costs no lookup)."""

    __slots__ = ("_now", "_sent_ms", "_sqs", "routes")

    def __init__(self, sqs: MemorySqs, subscriptions: Sequence[Subscription], now: float) -> None:
        self.routes = [Route(sub, sub.compiled, sub.scope == "MessageBody", not sub.raw)
                       for sub in subscriptions]  # fmt: skip
        self._sqs, self._now = sqs, now
        self._sent_ms: int | None = None

    def resolve(self, route: Route) -> None:
        """Look up ``route``'s queue: the subscribed one, else the subscription's DLQ."""
        sqs, route.resolved = self._sqs, True
        queue = sqs.by_arn(route.subscription.endpoint)
        if queue is None:
            queue, route.wrapped = _dead_letter_queue(sqs, route.subscription), False
        if queue is not None:
            if self._sent_ms is None:
                self._sent_ms = sqs.world.clock.epoch_ms(self._now)
            route.inbox, route.fifo = sqs.inbox(queue, self._now, self._sent_ms), queue.fifo


def _dead_letter_queue(sqs: MemorySqs, sub: Subscription) -> Queue | None:
    text = sub.attributes.get("RedrivePolicy")
    if not text:
        return None
    try:
        return sqs.by_arn(str(json.loads(text).get("deadLetterTargetArn", "")))
    except ValueError:
        return None


def fan_out(message: Published, fanout: Fanout, region: str) -> None:
    """Deliver ``message`` through every route whose filter policy it matches."""
    values: dict[str, Any] | None = None
    document: Any = _UNPARSED
    body = message.body
    for route in fanout.routes:
        compiled = route.compiled
        if compiled is not None:
            if route.body_scope:
                if document is _UNPARSED:
                    if not compiled.may_match(body):
                        continue  # parsed later, if another policy needs it
                    try:
                        document = loads(body)
                    except ValueError:
                        document = None
                if not isinstance(document, dict) or not compiled.match((document,)):
                    continue
            else:
                if values is None:
                    values = {}
                if not compiled.match_attributes(message.attributes, values):
                    continue
        if not route.resolved:
            fanout.resolve(route)
        inbox = route.inbox
        if inbox is None:
            continue
        group = dedup = None
        if route.fifo:
            group, dedup = message.group_id or message.id, message.dedup_id
        if route.wrapped:
            inbox.write(message.envelope(route.subscription, region), {}, group, dedup)
        else:
            inbox.write(body, message.attributes, group, dedup)
