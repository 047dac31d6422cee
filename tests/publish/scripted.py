"""Scripted senders (the transport boundary) for tests of bus's own batching, retry and pipeline logic.

What AWS does with the calls is checked against LocalStack in test_publisher_aws.py; these check
which entries are sent, in which batches and when, and what each event is told.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

from bus.memory import MemoryAws
from bus.publish import PublishRetry
from bus.publish.prepare import Channel, FlowContext, Prepared, prepare
from bus.publish.publisher import Publisher
from bus.publish.senders import EntryOutcome, Sender, entry_id
from bus.schema import Registry
from bus.topology.load import load_topology
from bus.topology.model import Topology
from schemas.orders import OrderPlaced

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = load_topology(ROOT / "topology.yaml")
REGISTRY = Registry.from_topology(TOPOLOGY, ROOT)
FAST = PublishRetry(attempts=3, initial=0, maximum=0, jitter=False)

Script = Callable[[int, Prepared], EntryOutcome]
"""``(attempt of this entry, entry) -> outcome``."""


def ok(attempt: int, item: Prepared) -> EntryOutcome:
    return EntryOutcome(entry_id(item), message_id=f"m-{item.index}-{attempt}")


class ScriptedSender:
    """Answers each entry as ``script(attempt, item)`` says; records every batch."""

    def __init__(
        self,
        channel: Channel,
        script: Script = ok,
        *,
        delay: float = 0.01,
        journal: list[str] | None = None,
    ) -> None:
        self.channel = channel
        self.script = script
        self.delay = delay
        self.journal = journal
        """Shared with the test: ``send <first index>`` is written when a call starts."""
        self.calls: list[list[int]] = []
        self.sent: list[Prepared] = []
        self.attempts: dict[int, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.answered = 0
        """Calls answered so far."""

    async def send(self, batch: Sequence[Prepared]) -> list[EntryOutcome]:
        self.calls.append([i.index for i in batch])
        self.sent.extend(batch)
        if self.journal is not None:
            self.journal.append(f"send {batch[0].index}")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(self.delay)
        self.in_flight -= 1
        self.answered += 1
        out = []
        for item in batch:
            self.attempts[item.index] = self.attempts.get(item.index, 0) + 1
            out.append(self.script(self.attempts[item.index], item))
        return out


def items(count: int, blob: str = "") -> list[Prepared]:
    spec = REGISTRY.spec("OrderPlaced")
    return [
        prepare(
            i,
            spec,
            OrderPlaced(order_id=f"o-{i}", customer_id=blob or "c", total_cents=i, country="DE"),
            (Channel("topic", "orders"),),
            FlowContext(),
        )
        for i in range(count)
    ]


class ScriptedPublisher(Publisher):
    """A Publisher of the reference topology whose destinations are scripted senders (no AWS)."""

    def __init__(
        self,
        scripts: dict[str, Script] | None = None,
        *,
        max_in_flight: int = 10,
        delay: float = 0.01,
        journal: list[str] | None = None,
        registry: Registry = REGISTRY,
        topology: Topology = TOPOLOGY,
        retry: PublishRetry = FAST,
    ) -> None:
        super().__init__(
            MemoryAws(),  # never called: the senders are scripted
            registry,
            topology,
            "t",
            retry=retry,
            max_in_flight=max_in_flight,
        )
        self.scripts = scripts or {}
        self.delay = delay
        self.journal = journal
        self.senders: dict[str, ScriptedSender] = {}
        self.resolved: list[str] = []

    async def _resolve(self, channel: Channel) -> Sender:
        self.resolved.append(channel.label)
        sender = ScriptedSender(
            channel, self.scripts.get(channel.label, ok), delay=self.delay, journal=self.journal
        )
        self.senders[channel.label] = sender
        return sender
