"""How one Publish or PublishBatch call fans its messages out to a topic's subscriptions.

At the start of a call each subscription becomes a ``Route``: its compiled filter policy and scope,
whether it wraps the message in SNS's notification and, once a message matches it, where it
writes (the subscribed queue, else the subscription's dead-letter queue, else nowhere: SNS loses
the message). A call runs without awaiting, so nothing changes under its routes; the next call
resolves them again, so a subscription, policy or queue changed between calls is seen at once.

Per message, what filter policies read is computed once and only when read: the body parsed for
the first body-scoped policy whose required strings it contains (``Compiled.may_match``), each
attribute converted for the first policy that names it, and the ``Published`` message (what SNS's
JSON notification is made from) for the first route that wraps it: raw deliveries need none.
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
from bus.memory.world import World

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
    message goes through it (a subscription no message of the call matches costs no lookup).
    What every message of the call shares (the topic, the time, the region) is held here."""

    __slots__ = ("_arn", "_clock", "_now", "_region", "_sent_ms", "_sqs", "routes")

    def __init__(
        self, sqs: MemorySqs, world: World, topic_arn: str,
        subscriptions: Sequence[Subscription], now: float,
    ) -> None:  # fmt: skip
        self.routes = [Route(sub, sub.compiled, sub.scope == "MessageBody", not sub.raw)
                       for sub in subscriptions]  # fmt: skip
        self._sqs, self._arn, self._now = sqs, topic_arn, now
        self._clock, self._region = world.clock, world.region
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

    def send(
        self, message_id: str, body: str, attributes: dict[str, Any], subject: str | None,
        group: str | None, dedup: str | None, sequence: str | None,
    ) -> None:  # fmt: skip
        """Deliver one message through every route whose filter policy it matches. The
        ``Published`` message is made only for a route that wraps it in SNS's notification."""
        values: dict[str, Any] | None = None
        document: Any = _UNPARSED
        published: Published | None = None
        for route in self.routes:
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
                    if not compiled.match_attributes(attributes, values):
                        continue
            if not route.resolved:
                self.resolve(route)
            inbox = route.inbox
            if inbox is None:
                continue
            fifo_group = fifo_dedup = None
            if route.fifo:
                fifo_group, fifo_dedup = group or message_id, dedup
            if route.wrapped:
                if published is None:
                    published = Published(message_id, self._arn, body, attributes, subject,
                                          group, dedup, sequence, self._now, self._clock)  # fmt: skip
                envelope = published.envelope(route.subscription, self._region)
                inbox.write(envelope, {}, fifo_group, fifo_dedup)
            else:
                inbox.write(body, attributes, fifo_group, fifo_dedup)


def _dead_letter_queue(sqs: MemorySqs, sub: Subscription) -> Queue | None:
    text = sub.attributes.get("RedrivePolicy")
    if not text:
        return None
    try:
        return sqs.by_arn(str(json.loads(text).get("deadLetterTargetArn", "")))
    except ValueError:
        return None
