"""``Outbox.add`` without AWS: validation as ``publish`` does it, the caller's transaction, sync
and async sessions; the DDL; and the core staying free of SQLAlchemy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel
from sqlalchemy import create_engine, func, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from bus.errors import EventValidationError, MessageTooLargeError, UnknownEventError
from bus.outbox import Outbox, ddl, metadata, outbox_table
from bus.outbox.database import async_url
from bus.publish.prepare import FlowContext, prepare_routed
from bus.settings import Settings
from schemas.orders import OrderPlaced, OrderPlacedV1

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def outbox() -> Outbox:
    return Outbox.load(Settings(topology_path=ROOT / "topology.yaml"))


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    engine = create_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    return url


def count(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = conn.scalar(select(func.count()).select_from(outbox_table))
    engine.dispose()
    return int(found or 0)


def order(**changes: object) -> OrderPlaced:
    data = {"order_id": "o-1", "customer_id": "c-1", "total_cents": 1250, "country": "DE"}
    return OrderPlaced(**{**data, **changes})  # type: ignore[arg-type]


def test_importing_bus_and_its_cli_does_not_import_sqlalchemy() -> None:
    code = (
        "import sys, bus, bus.cli, bus.cli.outbox\n"
        "found = sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'aiosqlite',"
        " 'psycopg'))\n"
        "print(found)\n"
        "sys.exit(1 if found else 0)\n"
    )
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert answer.returncode == 0, answer.stdout + answer.stderr


def test_a_committed_add_writes_the_message_publish_would_send(outbox: Outbox, db: str) -> None:
    engine = create_engine(db)
    with Session(engine) as session, session.begin():
        event_id = outbox.add(session, order(), correlation_id="flow-1")
    with engine.connect() as conn:
        [row] = conn.execute(select(outbox_table)).all()
    engine.dispose()
    assert row.event_id == event_id
    assert (row.event_type, row.event_version, row.state, row.group_id) == (
        "OrderPlaced",
        2,
        "pending",
        None,
    )
    body = json.loads(row.body)
    assert body["id"] == event_id
    assert body["correlationid"] == "flow-1"
    assert body["data"] == order().model_dump(mode="json")
    # the same preparation as the Publisher's: only the id and time differ
    direct = prepare_routed(
        0, outbox.route(outbox.registry.spec("OrderPlaced")), order(), FlowContext("flow-1")
    )
    assert json.loads(row.attributes) == direct.attributes
    assert {k: v for k, v in json.loads(direct.body).items() if k not in ("id", "time")} == {
        k: v for k, v in body.items() if k not in ("id", "time")
    }


def test_a_rolled_back_add_leaves_no_row(outbox: Outbox, db: str) -> None:
    engine = create_engine(db)
    with Session(engine) as session:
        outbox.add(session, order())
        session.rollback()
    engine.dispose()
    assert count(db) == 0


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (
            OrderPlaced.model_construct(
                order_id="o-1", customer_id="c", total_cents=-1, country="DE"
            ),
            EventValidationError,
        ),
        (order(country="DE").model_copy(update={"country": "germany"}), EventValidationError),
        (OrderPlacedV1(order_id="o", customer_id="c", amount=1, country="DE"), UnknownEventError),
        (
            order(
                customer_id="c" * 64,
                lines=[{"sku": "x" * 64, "quantity": 1, "unit_price_cents": 1}] * 3000,
            ),
            MessageTooLargeError,
        ),
    ],
    ids=["invalid-field", "invalid-after-copy", "old-version-model", "too-large"],
)
def test_an_invalid_event_raises_before_anything_is_written(
    outbox: Outbox, db: str, event: BaseModel, error: type[Exception]
) -> None:
    engine = create_engine(db)
    with Session(engine) as session:
        outbox.add(session, order(order_id="valid-first"))
        with pytest.raises(error):
            outbox.add(session, event)
        assert len(session.new) == 1  # the invalid one never reached the session
    engine.dispose()
    assert count(db) == 0  # and the transaction was not committed


def test_an_unregistered_model_is_refused(outbox: Outbox, db: str) -> None:
    class Stranger(BaseModel):
        x: int = 1

    engine = create_engine(db)
    with Session(engine) as session, pytest.raises(UnknownEventError, match="not the model"):
        outbox.add(session, Stranger())
    engine.dispose()


async def test_an_async_session_adds_in_its_transaction(outbox: Outbox, db: str) -> None:
    engine = create_async_engine(async_url(db))
    async with AsyncSession(engine) as session:
        outbox.add(session, order(order_id="rolled-back"))
        await session.rollback()
    async with AsyncSession(engine) as session, session.begin():
        kept = outbox.add(session, order(order_id="kept"))
    async with engine.connect() as conn:
        ids = (await conn.execute(select(outbox_table.c.event_id))).scalars().all()
    await engine.dispose()
    assert ids == [kept]


def test_ddl_for_migrations() -> None:
    sqlite = ddl("sqlite:///x.db")
    assert "CREATE TABLE bus_outbox (" in sqlite
    assert "CREATE TABLE bus_outbox_relay (" in sqlite
    assert "NOTIFY" not in sqlite.upper().replace("BUS_OUTBOX_NOTIFY", "")
    postgres = ddl("postgresql://app@db/shop")
    assert "id BIGSERIAL NOT NULL" in postgres
    assert "pg_notify('bus_outbox'" in postgres
    assert "AFTER INSERT ON bus_outbox FOR EACH STATEMENT" in postgres
    assert postgres.count(";\n") == 7  # 2 tables, 3 indexes, the function and its trigger


def test_the_printed_ddl_creates_a_working_table_on_postgresql(
    outbox: Outbox, postgres_url: str
) -> None:
    import psycopg

    with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute(ddl(postgres_url))  # type: ignore[arg-type]
    engine = create_engine(postgres_url)
    metadata.create_all(engine)  # what `bus outbox init` runs: nothing left to create
    with Session(engine) as session, session.begin():
        event_id = outbox.add(session, order())
    with engine.connect() as conn:
        assert conn.scalar(select(outbox_table.c.event_id)) == event_id
    engine.dispose()
