"""FIFO consistency of a topology (part of ``bus.topology.check``): names that end in ``.fifo``
exactly when the resource is FIFO, FIFO-only settings on FIFO resources, topics, dead-letter queues
and rule targets of the same kind as what they serve."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from bus.topology.finding import Finding
from bus.topology.model import FIFO_SUFFIX, Queue, Topology
from bus.topology.patterns import KeyPath


def fifo_suffix(path: KeyPath, kind: str, name: str, fifo: bool) -> Iterator[Finding]:
    depends = ((*path, "fifo"),)
    if fifo and not name.endswith(FIFO_SUFFIX):
        yield Finding(path, f"a FIFO {kind} name must end with .fifo", depends)
    elif not fifo and name.endswith(FIFO_SUFFIX):
        yield Finding(
            path, "the name ends with .fifo, so set fifo: true (or drop the suffix)", depends
        )


def fifo_attributes(t: Topology, env: str | None) -> Iterator[Finding]:
    for name, topic in t.topics.items():
        if topic.content_based_deduplication and not topic.fifo:
            path = ("topics", name, "content_based_deduplication")
            yield Finding(
                path, "only FIFO topics deduplicate by content", (("topics", name, "fifo"),)
            )
    for name, queue in t.queues.items():
        if queue.fifo:
            continue
        for field in (
            "content_based_deduplication",
            "deduplication_scope",
            "fifo_throughput_limit",
        ):
            if getattr(queue, field):
                yield Finding(
                    ("queues", name, field),
                    f"{field} applies to FIFO queues only",
                    (("queues", name, "fifo"),),
                )


def fifo_routes(t: Topology, env: str | None) -> Iterator[Finding]:
    queues = t.all_queues()
    for i, sub in enumerate(t.subscriptions):
        topic = t.topics.get(sub.topic)
        if topic is None:
            continue
        kind = "FIFO" if topic.fifo else "standard"
        for field in ("queue", "dead_letter_queue"):
            name = getattr(sub, field)
            queue = queues.get(name) if name else None
            if queue is not None and queue.fifo != topic.fifo:
                yield Finding(
                    ("subscriptions", i, field),
                    f"{kind} topic {sub.topic!r} can only deliver to {kind} queues; "
                    f"{name!r} is {_kind(queue)}",
                    (("topics", sub.topic, "fifo"), ("queues", name, "fifo")),
                )
    for name, queue in t.queues.items():
        if queue.dead_letter is False or queue.dead_letter.queue is None:
            continue
        dlq = t.queues.get(queue.dead_letter.queue)
        if dlq is not None and dlq.fifo != queue.fifo:
            yield Finding(
                ("queues", name, "dead_letter", "queue"),
                f"a {_kind(queue)} queue needs a {_kind(queue)} dead-letter queue; "
                f"{queue.dead_letter.queue!r} is {_kind(dlq)}",
                (("queues", name, "fifo"), ("queues", queue.dead_letter.queue, "fifo")),
            )
    yield from _targets(t, queues)


def _targets(t: Topology, queues: Mapping[str, Queue]) -> Iterator[Finding]:
    for rule_name, rule in t.rules.items():
        for j, target in enumerate(rule.targets):
            path = ("rules", rule_name, "targets", j)
            queue = queues.get(target.queue)
            depends = (("queues", target.queue, "fifo"),)
            if queue is not None and queue.fifo and target.message_group_id is None:
                yield Finding(
                    path,
                    f"target queue {target.queue!r} is FIFO: set message_group_id",
                    depends,
                )
            if queue is not None and not queue.fifo and target.message_group_id is not None:
                yield Finding(
                    (*path, "message_group_id"),
                    f"message_group_id is only for FIFO target queues; {target.queue!r} is standard",
                    depends,
                )
            dlq = queues.get(target.dead_letter_queue or "")
            if dlq is not None and dlq.fifo:
                yield Finding(
                    (*path, "dead_letter_queue"),
                    "EventBridge dead-letter queues must be standard queues; "
                    f"{target.dead_letter_queue!r} is FIFO",
                    (("queues", target.dead_letter_queue or "", "fifo"),),
                )


def _kind(queue: Queue) -> str:
    return "FIFO" if queue.fifo else "standard"
