"""The SQL inbox (``store: sql``) on SQLite and on a throwaway PostgreSQL: the claim and the
handler's writes commit together or not at all; a redelivered copy of a handled event never runs
again; copies arriving together (in two workers) run the handler once; an expired claim is retaken.

The consumer runs over the worker tests' in-memory SQS (bus's own control flow); the database is
real.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import (
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bus.errors import SettingsError, TopologyError
from bus.middleware.load import idempotency_store
from bus.outbox.inbox import (
    COMPLETED,
    IN_PROGRESS,
    ClaimLost,
    SqlStore,
    inbox_table,
    sql_session,
    url_of,
)
from bus.outbox.table import utc_now
from bus.topology.inbox_model import SqlInbox
from bus.topology.load import load_topology
from bus.worker import Context
from tests.outbox.conftest import postgres_url  # noqa: F401
from tests.outbox.test_cli import run
from tests.worker.apps import Permanent, Ping
from tests.worker.rig import GATES, JOURNAL, MemorySQS, Rig, consumer, events, until

LATER = {"attempts": 1, "redelivery": {"initial": 5, "maximum": 5, "jitter": False}}
FLAKY = {"attempts": 2, "in_process": {"initial": 0, "maximum": 0}}
HANDLER = "tests.outbox.test_inbox:place"


class Base(DeclarativeBase):
    metadata = MetaData()


class Order(Base):
    __tablename__ = "inbox_orders"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)


orders = Order.__table__
assert isinstance(orders, Table)


async def place(event: Ping, ctx: Context) -> None:
    """Writes an order row through the delivery's session; ``event.behaviour``: ``ok``, ``gate``
    (waits for its gate first), ``fail`` (raises after its write), ``conflict`` (also adds a row
    that exists: the flush at commit fails), ``flaky`` (the first try fails after its write)."""
    JOURNAL.append(("start", event.key, ctx.attempt))
    if event.behaviour == "gate":
        await GATES.setdefault(event.key, asyncio.Event()).wait()
    session = sql_session(ctx)
    await session.execute(insert(orders).values(key=event.key))
    if event.behaviour == "fail":
        raise Permanent(f"{event.key}: fails after its write")
    if event.behaviour == "conflict":
        session.add(Order(key="taken"))  # flushed when bus commits: a unique violation
    if event.behaviour == "flaky" and ctx.try_number == 1:
        raise ConnectionError(f"{event.key}: the first try fails after its write")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def db(url: str) -> Iterator[Engine]:
    """The application's database (sync), with its orders table and the pre-existing ``taken``."""
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(orders).values(key="taken"))
    yield engine
    engine.dispose()


@pytest.fixture
async def store(url: str, db: Engine) -> AsyncIterator[SqlStore]:
    made = SqlStore(url)
    await made.create()
    yield made
    await made.close()


def written(db: Engine) -> list[str]:
    with db.connect() as conn:
        return sorted(k for (k,) in conn.execute(select(orders.c.key)) if k != "taken")


def inbox(db: Engine) -> dict[str, str]:
    t = inbox_table()
    with db.connect() as conn:
        rows = conn.execute(select(t.c.key, t.c.state)).all()
    return {row.key: row.state for row in rows}


async def rig(store: SqlStore, retry: dict[str, object] = LATER) -> Rig:
    """A consumer over the in-memory SQS, on real time (the stores work in threads)."""
    return await consumer(MemorySQS(), idempotent=True, store=store, handler=HANDLER, retry=retry)


@pytest.mark.parametrize("behaviour", ["fail", "conflict"])
async def test_a_handler_whose_write_fails_leaves_no_claim_and_no_write(
    store: SqlStore, db: Engine, behaviour: str
) -> None:
    r = await rig(store)
    m = r.put("k1", behaviour)
    r.consumer.start()
    assert await until(lambda: any(e[:2] == ("visibility", m) for e in JOURNAL), within=20)
    await r.stop()
    assert events("start") == [("start", "k1", 1)]
    assert written(db) == []
    assert inbox(db) == {}  # released: the next copy may run
    assert r.sqs.ids(r.url) == [m]  # not deleted: comes back later


ATTRIBUTES = {"event_type": {"DataType": "String", "StringValue": "Ping"}}


def key_of(body: str) -> str:
    return "q:" + json.loads(body)["id"]


async def test_a_handled_event_commits_once_and_a_redelivered_copy_is_skipped(
    store: SqlStore, db: Engine
) -> None:
    r = await rig(store)
    body = r.body("k2")
    first = r.sqs.put(r.url, body, ATTRIBUTES)
    r.consumer.start()
    assert await until(lambda: ("delete", first) in JOURNAL, within=20)
    assert written(db) == ["k2"]
    assert inbox(db) == {key_of(body): COMPLETED}
    copy = r.sqs.put(r.url, body, ATTRIBUTES)  # SQS delivers the event again
    assert await until(lambda: ("delete", copy) in JOURNAL, within=20)
    await r.stop()
    assert events("start") == [("start", "k2", 1)]  # the copy never reached the handler
    assert r.stats.duplicates == 1
    assert written(db) == ["k2"]


async def test_each_in_process_try_has_its_own_transaction(store: SqlStore, db: Engine) -> None:
    r = await rig(store, FLAKY)
    m = r.put("k3", "flaky")  # the first try writes, then fails: its write is rolled back
    r.consumer.start()
    assert await until(lambda: ("delete", m) in JOURNAL, within=20)
    await r.stop()
    assert list(events("start")) == [("start", "k3", 1), ("start", "k3", 1)]
    assert written(db) == ["k3"]


async def test_copies_in_two_workers_at_once_run_the_handler_once(
    url: str, store: SqlStore, db: Engine
) -> None:
    other = SqlStore(url)  # a second worker: its own engine and connections
    try:
        a, b = await rig(store), await rig(other)
        body = a.body("k4", "gate")
        in_a = a.sqs.put(a.url, body, ATTRIBUTES)
        in_b = b.sqs.put(b.url, body, ATTRIBUTES)
        a.consumer.start()
        assert await until(lambda: len(events("start")) == 1, within=20)  # a holds the claim
        assert inbox(db) == {key_of(body): IN_PROGRESS}
        b.consumer.start()
        assert await until(lambda: any(e[:2] == ("visibility", in_b) for e in JOURNAL), within=20)
        GATES["k4"].set()
        assert await until(lambda: ("delete", in_a) in JOURNAL, within=20)
        b.sqs.expire(b.url, in_b)  # b's copy comes back: completed meanwhile
        assert await until(lambda: ("delete", in_b) in JOURNAL, within=20)
        await a.stop()
        await b.stop()
    finally:
        await other.close()
    assert events("start") == [("start", "k4", 1)]
    assert b.stats.duplicates == 1
    assert written(db) == ["k4"]


async def test_many_claims_at_once_on_one_key_give_one_claim(url: str, store: SqlStore) -> None:
    stores = [store, *(SqlStore(url) for _ in range(3))]
    try:
        answers = await asyncio.gather(*(s.claim("q:same", 60) for s in stores for _ in range(5)))
    finally:
        for other in stores[1:]:
            await other.close()
    assert sorted(a.status for a in answers) == ["claimed"] + ["in-progress"] * 19


async def test_an_expired_claim_is_retaken_and_the_late_owner_cannot_complete(
    store: SqlStore, url: str, db: Engine
) -> None:
    dead = SqlStore(url)  # a worker that stalls past its claim's expiry
    try:
        assert (await dead.claim("q:e", 0.001)).status == "claimed"
        await asyncio.sleep(0.01)
        assert (await store.claim("q:e", 60)).status == "claimed"  # expired: taken over
        with pytest.raises(ClaimLost):
            await dead.complete("q:e")
        await dead.release("q:e")  # not its claim any more: nothing happens
        assert inbox(db) == {"q:e": IN_PROGRESS}
        await store.complete("q:e", "done")
        again = await dead.claim("q:e", 60)
        assert (again.status, again.result) == ("completed", "done")
    finally:
        await dead.close()


async def test_a_handler_whose_claim_was_taken_over_rolls_back(store: SqlStore, db: Engine) -> None:
    r = await rig(store)
    body = r.body("k5", "gate")
    m = r.sqs.put(r.url, body, ATTRIBUTES)
    r.consumer.start()
    assert await until(lambda: len(events("start")) == 1, within=20)
    t = inbox_table()
    with db.begin() as conn:  # another worker took the claim over (it had expired)
        conn.execute(
            update(t).where(t.c.key == key_of(body)).values(owner="other", expires_at=utc_now())
        )
    GATES["k5"].set()
    assert await until(lambda: any(e[:2] == ("visibility", m) for e in JOURNAL), within=20)
    await r.stop()
    assert written(db) == []  # its write did not commit: the new owner's will
    assert inbox(db) == {key_of(body): IN_PROGRESS}


def test_the_url_comes_from_the_environment_first() -> None:
    config = SqlInbox(url="sqlite:///a.db", url_env="SHOP_DB")
    assert url_of(config, {"SHOP_DB": "postgresql://db/shop"}) == "postgresql://db/shop"
    assert url_of(config, {}) == "sqlite:///a.db"
    with pytest.raises(SettingsError, match=r"\$BUS_DATABASE_URL or idempotency.sql.url"):
        url_of(SqlInbox(), {})


async def test_sql_session_outside_a_guarded_handler_says_why() -> None:
    ctx = cast(Context, object())
    with pytest.raises(RuntimeError, match="not guarded by the SQL inbox"):
        sql_session(ctx)


SQL_TOPOLOGY = """\
name: shop
idempotency:
  store: sql
  sql: {url: "sqlite:///shop.db", table: shop_inbox}
queues:
  work: {}
events:
  Ping: {model: "tests.worker.apps:Ping", publish_to: [{queue: work}]}
handlers:
  work: {events: {Ping: "tests.outbox.test_inbox:place"}, idempotent: true}
"""


async def test_topology_declares_the_sql_store_and_the_worker_builds_it(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(SQL_TOPOLOGY)
    topology = load_topology(path)
    assert topology.idempotency.sql == SqlInbox(url="sqlite:///shop.db", table="shop_inbox")
    store = idempotency_store(topology.idempotency, tmp_path, "idempotency")
    assert isinstance(store, SqlStore)
    try:
        assert store.table.name == "shop_inbox"
        assert store.engine.url.drivername == "sqlite+aiosqlite"
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("old", "new", "line", "expected"),
    [
        ("table: shop_inbox", "tabel: shop_inbox", 4, "tabel"),
        ("table: shop_inbox", "table: 'drop table'", 4, "idempotency.sql.table"),
        ("store: sql", "store: memory", 2, "sql: is the inbox of store: sql"),
    ],
)
def test_a_mistake_in_the_sql_store_is_reported_at_its_line(
    tmp_path: Path, old: str, new: str, line: int, expected: str
) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(SQL_TOPOLOGY.replace(old, new, 1))
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    (problem, *_) = info.value.problems
    assert problem.line == line, info.value.problems
    assert expected in problem.message, problem.message


async def test_purge_forgets_keys_completed_long_enough_ago(store: SqlStore, db: Engine) -> None:
    for key in ("q:old", "q:running"):
        assert (await store.claim(key, 60)).status == "claimed"
    await store.complete("q:old")
    assert await store.purge(older_than=3600) == 0  # completed just now: kept
    await asyncio.sleep(0.01)
    assert await store.purge(older_than=0) == 1
    assert inbox(db) == {"q:running": IN_PROGRESS}  # an in-progress claim is never purged
    assert (await store.claim("q:old", 60)).status == "claimed"


def test_bus_outbox_init_creates_or_prints_the_inbox_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    assert run(["outbox", "init", "-d", url, "--inbox", "shop_inbox"], capsys)[:2] == (
        0,
        "outbox tables ready (and shop_inbox)\n",
    )
    engine = create_engine(url)
    try:
        assert {"bus_outbox", "shop_inbox"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    code, printed, _ = run(["outbox", "init", "-d", url, "--print-ddl", "--inbox", "x"], capsys)
    assert code == 0
    assert "CREATE TABLE x (" in printed
    assert "CREATE TABLE bus_outbox (" in printed


async def test_a_database_that_does_not_answer_is_one_clear_error_at_start(tmp_path: Path) -> None:
    (
        tmp_path / "app.db"
    ).mkdir()  # a folder where the database file should be: SQLite cannot open it
    store = SqlStore(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        with pytest.raises(SettingsError, match=r"idempotency store sql: cannot use sqlite"):
            await store.ready()
    finally:
        await store.close()
    # a file in a folder that does not exist is refused when the store is made
    with pytest.raises(SettingsError, match=r"the folder .*missing/dir does not exist"):
        SqlStore(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'app.db'}")
