"""Publish middlewares against the emulator: each event and each batch call goes through them, in
order; what they change is sent; their errors refuse the event or fail the batch's entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bus.aws import AwsClients
from bus.envelope import decode
from bus.errors import EventValidationError
from bus.middleware import NextBatch, NextEvent, Outgoing, OutgoingBatch, PublishMiddleware
from bus.publish import Publisher
from tests.worker.apps import Ping
from tests.worker.conftest import Applied, apply_topology, new_env

pytestmark = pytest.mark.aws
TOPOLOGY = """
name: pmiddle
queues:
  work: {}
events:
  Ping: {model: tests.worker.apps:Ping, publish_to: [{queue: work}]}
"""
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Recorder(PublishMiddleware):
    def __init__(self, name: str, journal: list[tuple[Any, ...]]) -> None:
        self.name = name
        self.journal = journal

    async def event(self, outgoing: Outgoing, call_next: NextEvent) -> None:
        self.journal.append((self.name, "event", outgoing.index))
        await call_next(outgoing)
        assert outgoing.prepared is not None

    async def batch(self, batch: OutgoingBatch, call_next: NextBatch) -> None:
        self.journal.append((self.name, "batch", len(batch.entries)))
        await call_next(batch)
        sent = sum(1 for o in batch.outcomes if o.message_id)
        self.journal.append((self.name, "sent", sent))


class Stamp(PublishMiddleware):
    async def event(self, outgoing: Outgoing, call_next: NextEvent) -> None:
        outgoing.traceparent = TRACE
        if outgoing.event.key == "refuse":  # type: ignore[attr-defined]
            raise EventValidationError("Ping", "refused by a middleware")
        await call_next(outgoing)


class Broken(PublishMiddleware):
    async def batch(self, batch: OutgoingBatch, call_next: NextBatch) -> None:
        raise RuntimeError("the batch middleware broke")


async def _applied(aws: AwsClients, tmp_path: Path) -> Applied:
    return await apply_topology(aws, TOPOLOGY, tmp_path, new_env())


def _publisher(applied: Applied, *middleware: PublishMiddleware) -> Publisher:
    return Publisher(
        applied.aws, applied.registry, applied.topology, applied.env, middleware=middleware
    )


async def test_each_event_and_batch_call_goes_through_the_middlewares_in_order(
    aws: AwsClients, tmp_path: Path
) -> None:
    applied = await _applied(aws, tmp_path)
    journal: list[tuple[Any, ...]] = []
    publisher = _publisher(applied, Recorder("outer", journal), Recorder("inner", journal))
    results = await publisher.publish_many([Ping(key=f"k{n}") for n in range(12)], check=True)
    assert all(r.ok for r in results)
    events = [e for e in journal if e[1] == "event"]
    assert events[:2] == [("outer", "event", 0), ("inner", "event", 0)]
    assert len(events) == 24
    batches = [e for e in journal if e[1] != "event"]
    assert sorted(e for e in batches if e[0] == "outer") == [
        ("outer", "batch", 2),
        ("outer", "batch", 10),
        ("outer", "sent", 2),
        ("outer", "sent", 10),
    ]
    assert len(await applied.drain("work")) == 12


async def test_what_an_event_middleware_changes_is_sent_and_its_error_refuses_the_event(
    aws: AwsClients, tmp_path: Path
) -> None:
    applied = await _applied(aws, tmp_path)
    publisher = _publisher(applied, Stamp())
    results = await publisher.publish_many([Ping(key="a"), Ping(key="refuse"), Ping(key="b")])
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, EventValidationError)
    received = await applied.drain("work")
    assert len(received) == 2
    for message in received:
        envelope = decode(message["Body"], message.get("MessageAttributes", {})).envelope
        assert envelope.traceparent == TRACE


async def test_a_batch_middleware_error_fails_the_entries_and_publish_raises(
    aws: AwsClients, tmp_path: Path
) -> None:
    applied = await _applied(aws, tmp_path)
    publisher = _publisher(applied, Broken())
    results = await publisher.publish_many([Ping(key="a"), Ping(key="b")])
    assert [r.ok for r in results] == [False, False]
    assert results[0].deliveries[0].error_code == "RuntimeError"
    assert await applied.depth("work") == 0
