"""The outbox of a topology with a claim check: a large event is added (not refused), the relay
stores its body in S3 and sends the pointer; one too large even for the claim check, or bound for
an EventBridge bus, is refused when it is added. On the in-memory AWS (its S3 answers as the
emulator's: tests/memory/test_s3.py) and a SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from bus.aws.limits import KIB
from bus.claimcheck.pointer import SIZE_ATTRIBUTE, read_pointer
from bus.errors import MessageTooLargeError
from bus.memory import MemoryAws
from bus.outbox import Outbox, OutboxPublisher, Relay, RelayOptions, metadata
from bus.outbox.database import open_engine
from bus.schema import Registry
from bus.topology.apply import converge
from bus.topology.load import load_topology
from bus.topology.model import physical_name
from tests.claimcheck import apps
from tests.claimcheck.test_flow_aws import TOPOLOGY

ROOT = Path(__file__).resolve().parents[2]


async def test_a_large_event_goes_through_the_outbox_and_s3(tmp_path: Path) -> None:
    (tmp_path / "topology.yaml").write_text(TOPOLOGY)
    topology = load_topology(tmp_path / "topology.yaml", env="t")
    registry = Registry.from_topology(topology, ROOT)
    url = f"sqlite:///{tmp_path / 'app.db'}"
    app = create_engine(url)
    metadata.create_all(app)
    outbox = Outbox(registry, topology)
    data = "y" * (300 * KIB)  # over SQS's 256 KiB queue default
    with Session(app) as session:
        event_id = outbox.add(session, apps.DirectBlob(key="outboxed", data=data))
        session.commit()
    app.dispose()
    async with MemoryAws() as aws:
        await converge(aws, topology, "t")
        publisher = OutboxPublisher(aws, registry, topology, "t")
        engine = open_engine(url)
        try:
            cycle = await Relay(engine, publisher, RelayOptions()).drain()
        finally:
            await engine.dispose()
        assert (cycle.sent, cycle.parked) == (1, 0)
        queue = aws.memory_sqs.queues[physical_name("direct", "t")]
        (message,) = queue.messages.values()
        pointer = read_pointer(message.body)
        assert pointer is not None
        assert SIZE_ATTRIBUTE in message.attributes
        bucket = aws.memory_s3.buckets[physical_name("payloads", "t")]
        stored = json.loads(bucket.objects[pointer.key].body)
        assert stored["id"] == event_id
        assert stored["data"] == {"key": "outboxed", "data": data, "reject": False}


def test_what_the_claim_check_cannot_carry_is_refused_when_added(tmp_path: Path) -> None:
    small = TOPOLOGY.replace(
        "claim_check: {bucket: payloads}", "claim_check: {bucket: payloads, max_size: 1MiB}"
    )
    (tmp_path / "topology.yaml").write_text(small)
    topology = load_topology(tmp_path / "topology.yaml", env="t")
    outbox = Outbox(Registry.from_topology(topology, ROOT), topology)
    outbox.prepare(apps.DirectBlob(key="fits", data="z" * (300 * KIB)))  # through S3: fine
    with pytest.raises(MessageTooLargeError, match=r"claim check's 1048576-byte limit"):
        outbox.prepare(apps.DirectBlob(key="too-big", data="z" * (1100 * KIB)))
