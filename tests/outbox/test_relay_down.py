"""A relay whose PostgreSQL is down (both containers starting at once, a restart) does not crash:
its LISTEN connection and its cycles fail, are logged, and are tried again; once the server is up
it claims rows again and its LISTEN comes back (a NOTIFY wakes it, with polling set to ten
minutes). The relay's publisher is a stand-in that takes every row: what is tested is the
database coming and going, not AWS."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from bus.outbox import Backoff, Outbox, Relay, RelayOptions, metadata, outbox_table
from bus.outbox.database import open_engine
from bus.outbox.publish import Stored
from bus.publish.results import Delivery, PublishResult
from bus.settings import Settings
from schemas.orders import OrderPlaced
from tests.pg import PostgresServer, halt, resume

ROOT = Path(__file__).resolve().parents[2]


class TakesEverything:
    """Stands in for the relay's ``OutboxPublisher``: every row it is handed is sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def publish_many(self, rows: Iterable[Stored]) -> list[PublishResult]:
        results = []
        for n, row in enumerate(rows):
            self.sent.append(row.event_id)
            delivery = Delivery("topic:orders", f"m-{row.row_id}")
            results.append(PublishResult(n, row.event_type, row.event_id, (delivery,)))
        return results


@pytest.mark.timeout(30)
async def test_a_relay_started_while_postgresql_is_down_keeps_trying(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://u@/db?host={tmp_path}&port=5999"  # nothing listens there
    relay = Relay(open_engine(url), cast(Any, None), RelayOptions(listen=True, poll_interval=0.1))
    stop = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(relay.run(stop))
        await asyncio.sleep(2.5)
        assert not task.done()  # still trying
        stop.set()
        await asyncio.wait_for(task, 10)  # and stops cleanly: no exception
    await relay.close()
    events = [entry["event"] for entry in logs]
    assert events[0] == "outbox.listen_lost"
    assert events.count("outbox.database_error") >= 2  # tried again after backing off


def order(n: int) -> OrderPlaced:
    return OrderPlaced(order_id=f"down-{n}", customer_id="c-1", total_cents=n, country="DE")


def add(engine: Engine, outbox: Outbox, event: OrderPlaced) -> str:
    with Session(engine) as session, session.begin():
        return outbox.add(session, event)


def listening(engine: Engine) -> bool:
    """Whether a session of the database is LISTENing (the relay's)."""
    with engine.connect() as conn:
        query = text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'")
        return bool(conn.scalar(query))


async def until(check: Any, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return True
        await asyncio.sleep(0.1)
    return False


@pytest.mark.timeout(90)
async def test_a_relay_carries_on_when_its_postgresql_comes_back(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    app = create_engine(postgres_url)
    metadata.create_all(app)  # the outbox table and its NOTIFY trigger
    outbox = Outbox.load(Settings.from_env({}, topology_path=ROOT / "topology.yaml"))
    publisher = TakesEverything()
    options = RelayOptions(
        listen=True, poll_interval=600, retention=0, backoff=Backoff(initial=0.1, maximum=0.4)
    )  # rows come by NOTIFY only: polling would take ten minutes
    relay = Relay(open_engine(postgres_url), cast(Any, publisher), options)
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    app.dispose()
    await asyncio.to_thread(halt, postgres_server)
    try:
        with capture_logs() as logs:
            task = asyncio.create_task(relay.run(stop))
            await asyncio.sleep(1.5)
            assert not task.done()
            down = [entry["event"] for entry in logs]
            assert down[0] == "outbox.listen_lost"
            assert "outbox.database_error" in down
        await asyncio.to_thread(resume, postgres_server)
        assert await until(lambda: listening(app), within=20), "LISTEN did not come back"
        event_id = await asyncio.to_thread(add, app, outbox, order(1))
        assert await until(lambda: publisher.sent == [event_id], within=20), publisher.sent
        left = await asyncio.to_thread(_rows, app)
        assert left == []  # sent, then deleted (retention 0)
    finally:
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 20)
        await relay.close()
        app.dispose()
        if not await asyncio.to_thread(_up, postgres_server):  # for the tests after this one
            await asyncio.to_thread(resume, postgres_server)


def _rows(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(outbox_table.c.event_id)))


def _up(server: PostgresServer) -> bool:
    return (server.data / "postmaster.pid").exists()
