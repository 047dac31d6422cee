"""``bus worker`` honours ``idempotency: {store: sql}`` (LocalStack, SQLite): the handler's write
commits once, and a copy of the event delivered later is skipped."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from bus.aws import AwsClients
from bus.outbox import Outbox
from bus.publish import load_registry
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.model import physical_name
from bus.worker import Worker, WorkerOptions, WorkerParts
from tests.outbox.conftest import ROOT
from tests.outbox.test_inbox import Base, inbox, written
from tests.worker.apps import Ping
from tests.worker.rig import until

pytestmark = pytest.mark.aws

TOPOLOGY = """\
name: inbox
idempotency:
  store: sql
  sql: {url_env: T12_INBOX_URL, table: bus_inbox}
queues:
  orders-in: {dead_letter: false}
events:
  Ping: {model: "tests.worker.apps:Ping", publish_to: [{queue: orders-in}]}
handlers:
  orders-in: {events: {Ping: "tests.outbox.test_inbox:place"}, idempotent: true}
"""


async def test_the_worker_builds_the_sql_store_from_the_topology(
    bus_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    db = create_engine(url)
    Base.metadata.create_all(db)
    monkeypatch.setenv("T12_INBOX_URL", url)
    path = tmp_path / "topology.yaml"
    path.write_text(TOPOLOGY)
    env = "i" + uuid.uuid4().hex[:8]
    topology, registry = load_registry(path, env)
    prepared = Outbox(registry, topology).prepare(Ping(key="w1"))
    async with AwsClients(bus_settings) as aws:
        await converge(aws, topology, env)
        queue = (await aws.sqs.get_queue_url(QueueName=physical_name("orders-in", env)))["QueueUrl"]

        async def send() -> None:  # the same event, as SQS may deliver it again
            await aws.sqs.send_message(
                QueueUrl=queue, MessageBody=prepared.body, MessageAttributes=prepared.attributes
            )

        worker = Worker(
            aws, topology, env=env, base_dir=ROOT, parts=WorkerParts(registry=registry),
            options=WorkerOptions(wait_seconds=1),  # its stop waits for the long poll under way
        )  # fmt: skip
        await worker.start()
        stop = asyncio.Event()
        serving = asyncio.create_task(worker.serve(stop))
        try:
            await send()
            assert await until(lambda: worker.stats.total().processed == 1, within=30)
            await send()
            assert await until(lambda: worker.stats.total().duplicates == 1, within=30)
        finally:
            stop.set()
            await serving
    try:
        assert written(db) == ["w1"]
        assert inbox(db) == {f"orders-in:{prepared.id}": "completed"}
    finally:
        db.dispose()
