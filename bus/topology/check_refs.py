"""References between declarations (part of ``bus.topology.check``): every topic, queue, bus and
event type a declaration names is declared, with a "did you mean" for a misspelt name; and the
dead-letter rules (no queue its own DLQ, a DLQ has none of its own, no name collides with a
derived DLQ).

A suggestion compares the name with every declared one (``difflib``): with 10,000 queues and as
many broken references that is quadratic, so one run suggests for the first ``MAX_SUGGESTIONS``
broken references only, each collection of candidates sorted once.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator

from bus.topology.finding import Finding
from bus.topology.model import DEFAULT_BUS, Topology
from bus.topology.patterns import KeyPath

MAX_SUGGESTIONS = 20
"""Broken references per run that get a "did you mean" (the rest are reported without one)."""


class Suggestions:
    """Close matches for misspelt names, for at most ``limit`` names."""

    def __init__(self, limit: int = MAX_SUGGESTIONS) -> None:
        self.left = limit
        self._sorted: dict[int, tuple[Collection[str], list[str]]] = {}

    def hint(self, name: str, declared: Collection[str]) -> str:
        """`` (did you mean 'x'?)`` or nothing."""
        if self.left <= 0 or not declared:
            return ""
        self.left -= 1
        cached = self._sorted.get(id(declared))
        if cached is None or cached[0] is not declared:
            cached = (declared, sorted(declared))
            self._sorted[id(declared)] = cached
        close = difflib.get_close_matches(name, cached[1], n=1)
        return f" (did you mean {close[0]!r}?)" if close else ""


def references(t: Topology, env: str | None) -> Iterator[Finding]:
    """Every name a declaration uses that is not declared."""
    refs = _References(t)
    yield from refs.subscriptions()
    for name, queue in t.queues.items():
        if queue.dead_letter is not False and queue.dead_letter.queue is not None:
            path: KeyPath = ("queues", name, "dead_letter", "queue")
            yield from refs.check(path, "queue", queue.dead_letter.queue, t.queues)
    yield from refs.rules()
    yield from refs.events()
    for queue_name, binding in t.handlers.items():
        yield from refs.check(("handlers", queue_name), "queue", queue_name, refs.queues)
        for event_type in binding.events:
            path = ("handlers", queue_name, "events", event_type)
            yield from refs.check(path, "event type", event_type, t.events)


_SECTION = {"topic": "topics", "queue": "queues", "bus": "buses", "event type": "events"}


class _References:
    def __init__(self, t: Topology) -> None:
        self.t = t
        self.queues = t.all_queues()
        self.suggestions = Suggestions()

    def check(
        self, path: KeyPath, kind: str, name: str, declared: Collection[str], allow: str = ""
    ) -> Iterator[Finding]:
        if name in declared or name == allow:
            return
        section = _SECTION[kind]
        hint = self.suggestions.hint(name, declared)
        yield Finding(
            path, f"{kind} {name!r} is not declared under {section}{hint}", ((section, name),)
        )

    def subscriptions(self) -> Iterator[Finding]:
        t, queues = self.t, self.queues
        for i, sub in enumerate(t.subscriptions):
            path: KeyPath = ("subscriptions", i)
            yield from self.check((*path, "topic"), "topic", sub.topic, t.topics)
            yield from self.check((*path, "queue"), "queue", sub.queue, queues)
            if sub.dead_letter_queue is not None:
                dlq = sub.dead_letter_queue
                yield from self.check((*path, "dead_letter_queue"), "queue", dlq, queues)

    def rules(self) -> Iterator[Finding]:
        t, queues = self.t, self.queues
        for name, rule in t.rules.items():
            yield from self.check(("rules", name, "bus"), "bus", rule.bus, t.buses, DEFAULT_BUS)
            for j, target in enumerate(rule.targets):
                path: KeyPath = ("rules", name, "targets", j)
                yield from self.check((*path, "queue"), "queue", target.queue, queues)
                if target.dead_letter_queue is not None:
                    dlq = target.dead_letter_queue
                    yield from self.check((*path, "dead_letter_queue"), "queue", dlq, queues)

    def events(self) -> Iterator[Finding]:
        t, queues = self.t, self.queues
        for name, event in t.events.items():
            for k, dest in enumerate(event.publish_to):
                path: KeyPath = ("events", name, "publish_to", k)
                if dest.topic is not None:
                    yield from self.check((*path, "topic"), "topic", dest.topic, t.topics)
                if dest.queue is not None:
                    yield from self.check((*path, "queue"), "queue", dest.queue, queues)
                if dest.bus is not None:
                    yield from self.check((*path, "bus"), "bus", dest.bus, t.buses, DEFAULT_BUS)


def derived_dlq(t: Topology, name: str) -> str | None:
    queue = t.queues[name]
    if queue.dead_letter is False or queue.dead_letter.queue is not None:
        return None
    dlq = t.dead_letter_of(name)
    return dlq[0] if dlq is not None else None


def dead_letters(t: Topology, env: str | None) -> Iterator[Finding]:
    sources = _declared_dlq_sources(t)
    for name, queue in t.queues.items():
        if queue.dead_letter is not False and queue.dead_letter.queue == name:
            yield Finding(
                ("queues", name, "dead_letter", "queue"),
                "a queue cannot be its own dead-letter queue",
            )
        elif name in sources and "dead_letter" in queue.model_fields_set and queue.dead_letter:
            users = ", ".join(repr(s) for s in sources[name])
            yield Finding(
                ("queues", name, "dead_letter"),
                f"{name!r} is the dead-letter queue of {users}; a dead-letter queue cannot have "
                "one of its own (set dead_letter: false)",
            )
        derived = derived_dlq(t, name)
        if derived is not None and derived in t.queues:
            yield Finding(
                ("queues", derived),
                f"{derived!r} collides with the dead-letter queue bus derives for {name!r}; "
                f"set {name}'s dead_letter.queue: {derived}, or rename it",
                (("queues", name, "dead_letter"),),
            )


def _declared_dlq_sources(t: Topology) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, queue in t.queues.items():
        if queue.dead_letter is not False and queue.dead_letter.queue not in (None, name):
            out.setdefault(queue.dead_letter.queue or "", []).append(name)
    return out
