"""A small topology applied in LocalStack for the outbox tests, the databases they run on (a
SQLite file, a throwaway PostgreSQL database) and helpers to add rows and read the sinks."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import BaseModel
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from bus.aws import AwsClients
from bus.outbox import Outbox, OutboxPublisher, Relay, RelayOptions, metadata
from bus.outbox.database import open_engine
from bus.publish import load_registry
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.model import physical_name
from schemas.orders import LedgerEntry, OrderPlaced
from tests.pg import postgres_server, postgres_url  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]

TOPOLOGY = """\
name: outbox
queues:
  sink: {dead_letter: false}
  sink.fifo: {fifo: true, dead_letter: false}
events:
  OrderPlaced:
    model: schemas.orders:OrderPlaced
    version: 2
    publish_to: [{queue: sink}]
    attributes: [country, total_cents]
  LedgerEntry:
    model: schemas.orders:LedgerEntry
    publish_to: [{queue: sink.fifo}]
    message_group_id: account_id
"""
PAYMENT_FAILED = """\
  PaymentFailed:
    model: schemas.orders:PaymentFailed
    publish_to: [{queue: sink}]
"""


@dataclass(frozen=True)
class Received:
    counts: Counter[str]
    """Copies received, by event id."""
    bodies: list[dict[str, Any]]
    """Every body, in the order received."""

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.counts.values())


@dataclass
class World:
    """The topology in LocalStack (environment ``env``) and what publishing to it needs."""

    settings: Settings
    """With ``topology_path`` (the file with ``PaymentFailed``) and ``env``."""
    without_payment_failed: Path
    aws: AwsClients
    urls: dict[str, str]

    @property
    def env(self) -> str:
        return str(self.settings.env)

    def outbox(self) -> Outbox:
        return Outbox.load(self.settings)

    def publisher(self, topology_path: Path | None = None) -> OutboxPublisher:
        path = topology_path or self.settings.topology_path
        topology, registry = load_registry(path, self.env)
        return OutboxPublisher(self.aws, registry, topology, self.env)

    def relay(self, url: str, topology_path: Path | None = None, **options: Any) -> Relay:
        return Relay(open_engine(url), self.publisher(topology_path), RelayOptions(**options))

    async def receive(
        self, queue: str, expected: Iterable[str], *, within: float = 60.0
    ) -> Received:
        """Event ids received (and deleted) from ``queue`` until every ``expected`` id came and a
        receive came back empty (duplicates are counted), or ``within`` seconds passed."""
        want = set(expected)
        seen: Counter[str] = Counter()
        order: list[dict[str, Any]] = []
        deadline = time.monotonic() + within

        async def receiver() -> None:
            while time.monotonic() < deadline:
                answer = await self.aws.sqs.receive_message(
                    QueueUrl=self.urls[queue], MaxNumberOfMessages=10, WaitTimeSeconds=1
                )
                messages = answer.get("Messages", [])
                for message in messages:
                    body = json.loads(message["Body"])
                    seen[body["id"]] += 1
                    order.append(body)
                if messages:
                    await self.aws.sqs.delete_message_batch(
                        QueueUrl=self.urls[queue],
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                            for i, m in enumerate(messages)
                        ],
                    )
                elif want <= set(seen):
                    return

        await asyncio.gather(*(receiver() for _ in range(1 if queue.endswith(".fifo") else 4)))
        return Received(seen, order)


@pytest_asyncio.fixture(scope="module")
async def world(
    bus_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    directory = tmp_path_factory.mktemp("outbox-topology")
    full = directory / "topology.yaml"
    full.write_text(TOPOLOGY + PAYMENT_FAILED)
    reduced = directory / "without-payment-failed.yaml"
    reduced.write_text(TOPOLOGY)
    env = "o" + uuid.uuid4().hex[:8]
    settings = bus_settings.model_copy(update={"topology_path": full, "env": env})
    topology, _ = load_registry(full, env)
    async with AwsClients(settings) as aws:
        await converge(aws, topology, env)
        urls = {}
        for name in ("sink", "sink.fifo"):
            answer = await aws.sqs.get_queue_url(QueueName=physical_name(name, env))
            urls[name] = answer["QueueUrl"]
        yield World(settings, reduced, aws, urls)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The application's database, with the outbox tables: a SQLite file or a PostgreSQL one."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    engine = create_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def app_engine(database_url: str) -> Iterator[Engine]:
    """The application's own (sync) engine."""
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def add(engine: Engine, outbox: Outbox, events: Iterable[BaseModel], *, commit: bool) -> list[str]:
    """Add ``events`` in one transaction, committed or rolled back; their event ids."""
    with Session(engine) as session:
        ids = [outbox.add(session, event) for event in events]
        if commit:
            session.commit()
        else:
            session.rollback()
    return ids


def order(n: int, prefix: str = "o") -> OrderPlaced:
    return OrderPlaced(
        order_id=f"{prefix}-{n}", customer_id="c-1", total_cents=n, currency="EUR", country="DE"
    )


def entry(account: str, sequence: int) -> LedgerEntry:
    return LedgerEntry(account_id=account, sequence=sequence, amount_cents=sequence)
