"""The relay against LocalStack and real databases (a SQLite file, a throwaway PostgreSQL):
committed rows go out and rolled-back ones never, a relay killed mid-run loses nothing, relays in
parallel publish each event once, FIFO groups keep their order, rows the topology no longer allows
are parked and kept."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select, update
from sqlalchemy.ext.asyncio import create_async_engine

from bus.outbox import Backoff, counts, entries, metadata, outbox_table, retry
from bus.outbox.database import async_url
from bus.outbox.table import utc_now
from schemas.orders import PaymentFailed
from tests.outbox.conftest import ROOT, World, add, entry, order

pytestmark = pytest.mark.aws


async def states(url: str) -> dict[str, int]:
    engine = create_async_engine(async_url(url))
    try:
        return await counts(engine)
    finally:
        await engine.dispose()


async def until_nothing_pending(
    url: str, work: Callable[[], Awaitable[object]] | None = None, within: float = 120.0
) -> None:
    """Wait (doing ``work`` meanwhile) until no row is pending, or ``within`` seconds passed."""
    deadline = time.monotonic() + within
    for _ in range(100_000):
        if not (await states(url))["pending"] or time.monotonic() > deadline:
            return
        if work is not None:
            await work()
        await asyncio.sleep(0.2)


def sequences(bodies: list[dict[str, object]]) -> dict[str, list[int]]:
    """FIFO bodies' ledger sequence numbers per account, in the order received."""
    found: dict[str, list[int]] = defaultdict(list)
    for body in bodies:
        data = body["data"]
        assert isinstance(data, dict)
        found[data["account_id"]].append(data["sequence"])
    return dict(found)


async def test_committed_rows_are_published_and_rolled_back_ones_never(
    world: World, app_engine: Engine, database_url: str
) -> None:
    outbox = world.outbox()
    committed = add(app_engine, outbox, [order(i, "c") for i in range(25)], commit=True)
    rolled_back = add(app_engine, outbox, [order(i, "r") for i in range(10)], commit=False)
    committed += add(app_engine, outbox, [order(i, "d") for i in range(5)], commit=True)

    relay = world.relay(database_url)
    try:
        total = await relay.drain()
    finally:
        await relay.close()

    assert (total.claimed, total.sent, total.parked) == (30, 30, 0)
    received = await world.receive("sink", committed)
    assert set(received.counts) == set(committed)
    assert not set(received.counts) & set(rolled_back)
    assert received.duplicates == 0
    body = next(b for b in received.bodies if b["id"] == committed[0])
    assert body["data"] == order(0, "c").model_dump(mode="json")  # the envelope add prepared
    assert await states(database_url) == {"pending": 0, "sent": 30, "parked": 0}


async def test_a_row_whose_event_type_was_removed_is_parked_and_kept(
    world: World, app_engine: Engine, database_url: str
) -> None:
    outbox = world.outbox()
    failed, placed = add(
        app_engine,
        outbox,
        [PaymentFailed(order_id="p-1", reason="card declined"), order(1, "p")],
        commit=True,
    )
    reduced = world.relay(database_url, world.without_payment_failed, retention=0)
    try:
        total = await reduced.drain()
        assert (total.sent, total.parked) == (1, 1)
        assert (await reduced.drain()).claimed == 0  # parked rows are not claimed again
        [parked] = await entries(reduced.engine)
        assert parked.event_id == failed
        assert parked.error is not None
        assert "event type PaymentFailed is no longer declared in the topology" in parked.error
        assert await states(database_url) == {"pending": 0, "sent": 0, "parked": 1}

        assert await retry(reduced.engine) == 1  # the topology declares it again:
    finally:
        await reduced.close()
    full = world.relay(database_url)
    try:
        assert (await full.drain()).sent == 1
    finally:
        await full.close()
    received = await world.receive("sink", [failed, placed])
    assert set(received.counts) >= {failed, placed}


@pytest.mark.parametrize(
    ("column", "value", "said"),
    [
        ("body", "{not json", "its stored body is not JSON"),
        ("body", "[1, 2]", "its stored body is not a JSON object"),
        ("attributes", "null", "its stored attributes is not a JSON object"),
        ("attributes", '{"event_type": 1}', "its stored attribute 'event_type' is not a DataType"),
    ],
)
async def test_a_damaged_row_is_parked_with_an_error_naming_it_and_the_others_go_out(
    world: World, app_engine: Engine, database_url: str, column: str, value: str, said: str
) -> None:
    outbox = world.outbox()
    damaged, good = add(app_engine, outbox, [order(1, "x"), order(2, "x")], commit=True)
    with app_engine.begin() as conn:  # edited by hand, or damaged: not what add stores
        conn.execute(
            update(outbox_table).where(outbox_table.c.event_id == damaged).values({column: value})
        )
    relay = world.relay(database_url, retention=0)
    try:
        total = await relay.drain()  # before: the relay raised, and claimed the row again
        assert (total.sent, total.parked) == (1, 1)
        [parked] = await entries(relay.engine)
    finally:
        await relay.close()
    assert parked.event_id == damaged
    assert parked.error is not None
    assert f"{damaged} (outbox row" in parked.error
    assert said in parked.error
    received = await world.receive("sink", [good])
    assert set(received.counts) == {good}


async def test_rows_failing_at_aws_are_retried_with_backoff_then_parked(
    world: World, app_engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # the relay's topology now routes OrderPlaced to a queue that does not exist in AWS
    moved = tmp_path / "moved.yaml"
    moved.write_text(
        world.settings.topology_path.read_text()
        .replace(
            "  sink: {dead_letter: false}",
            "  sink: {dead_letter: false}\n  missing: {dead_letter: false}",
        )
        .replace(
            "    publish_to: [{queue: sink}]\n    attributes",
            "    publish_to: [{queue: missing}]\n    attributes",
        )
    )
    ids = add(app_engine, world.outbox(), [order(i, "m") for i in range(3)], commit=True)
    relay = world.relay(database_url, moved, max_attempts=2, backoff=Backoff(initial=60))
    try:
        first = await relay.drain()
        assert (first.claimed, first.retried, first.sent) == (3, 3, 0)
        assert first.stalled
        assert (await relay.drain()).claimed == 0  # not due yet: waiting for the backoff
        pending = await entries(relay.engine, "pending")
        assert [(e.event_id, e.attempts) for e in pending] == [(i, 1) for i in ids]
        codes = ("QueueDoesNotExist", "NonExistentQueue")  # AWS's JSON / query protocol names
        assert all(
            str(e.error).startswith("queue:missing failed: ")
            and any(c in str(e.error) for c in codes)
            for e in pending
        ), [e.error for e in pending]

        with app_engine.connect() as conn:
            due = conn.execute(select(outbox_table.c.available_at)).scalars().all()
        assert all(at > utc_now() + timedelta(seconds=30) for at in due)  # about a minute away
        with app_engine.begin() as conn:  # the minute has passed
            conn.execute(update(outbox_table).values(available_at=utc_now()))
        second = await relay.drain()
        assert (second.claimed, second.parked) == (3, 3)
        parked = await entries(relay.engine)
    finally:
        await relay.close()
    assert [(e.event_id, e.attempts) for e in parked] == [(i, 2) for i in ids]
    assert all(str(e.error).startswith("after 2 attempts: queue:missing failed: ") for e in parked)


async def test_a_fifo_group_waits_behind_its_parked_row_and_keeps_its_order(
    world: World, app_engine: Engine, database_url: str
) -> None:
    outbox = world.outbox()
    suffix = os.urandom(3).hex()
    accounts = [f"a-{suffix}", f"b-{suffix}", f"c-{suffix}"]
    ids = add(
        app_engine,
        outbox,
        [entry(account, n) for n in range(12) for account in accounts],
        commit=True,
    )
    blocked = ids[5 * 3]  # the sixth entry of the first account fails for good
    with app_engine.begin() as conn:
        conn.execute(
            update(outbox_table)
            .where(outbox_table.c.event_id == blocked)
            .values(state="parked", error="simulated")
        )

    relay = world.relay(database_url, batch_size=7)
    try:
        total = await relay.drain()
        assert total.sent == 5 + 12 + 12
        received = await world.receive("sink.fifo", ids[:15] + ids[15:][1::3] + ids[15:][2::3])
        assert sequences(received.bodies) == {
            accounts[0]: list(range(5)),
            accounts[1]: list(range(12)),
            accounts[2]: list(range(12)),
        }
        assert await states(database_url) == {"pending": 6, "sent": 29, "parked": 1}

        await retry(relay.engine)
        assert (await relay.drain()).sent == 7
    finally:
        await relay.close()
    received = await world.receive("sink.fifo", ids[15::3])
    assert sequences(received.bodies) == {accounts[0]: list(range(5, 12))}


@pytest.mark.timeout(180)
async def test_three_relays_in_parallel_publish_each_event_once(
    world: World, app_engine: Engine, database_url: str
) -> None:
    events = 1_000 if database_url.startswith("postgresql") else 300  # the issue: 5,000
    outbox = world.outbox()
    suffix = os.urandom(3).hex()
    accounts = [f"p{n}-{suffix}" for n in range(4)]
    relays = [world.relay(database_url, batch_size=50, poll_interval=0.05) for _ in range(3)]
    stop = asyncio.Event()
    running = [asyncio.create_task(r.run(stop)) for r in relays]

    def produce() -> tuple[list[str], list[str], list[str]]:
        orders, ledger, rolled_back = [], [], []
        for chunk in range(0, events, 100):
            orders += add(
                app_engine,
                outbox,
                [order(i, suffix) for i in range(chunk, chunk + 100)],
                commit=True,
            )
            rolled_back += add(app_engine, outbox, [order(0, "never")], commit=False)
            ledger += add(
                app_engine, outbox, [entry(a, chunk // 100) for a in accounts], commit=True
            )
        return orders, ledger, rolled_back

    try:
        orders, ledger, rolled_back = await asyncio.to_thread(produce)
        await until_nothing_pending(database_url)
    finally:
        stop.set()
        await asyncio.gather(*running)
        for r in relays:
            await r.close()

    assert await states(database_url) == {
        "pending": 0,
        "sent": len(orders) + len(ledger),
        "parked": 0,
    }
    received = await world.receive("sink", orders, within=120)
    assert set(received.counts) == set(orders)
    assert received.duplicates == 0
    assert not set(received.counts) & set(rolled_back)
    fifo = await world.receive("sink.fifo", ledger)
    assert fifo.duplicates == 0
    rounds = list(range(events // 100))
    assert sequences(fifo.bodies) == dict.fromkeys(accounts, rounds)


@pytest.mark.timeout(180)
async def test_a_relay_killed_mid_run_loses_nothing_and_sends_no_rolled_back_event(
    world: World, app_engine: Engine, database_url: str
) -> None:
    outbox = world.outbox()
    suffix = os.urandom(3).hex()
    committed: list[str] = []
    rolled_back: list[str] = []
    for chunk in range(3):
        committed += add(
            app_engine, outbox, [order(i, f"{suffix}-{chunk}") for i in range(100)], commit=True
        )
        rolled_back += add(app_engine, outbox, [order(i, "never") for i in range(10)], commit=False)

    settings = world.settings
    command = [
        sys.executable, "-c", "import cli; cli.main()", "outbox", "relay",
        "--database-url", database_url, "--topology", str(settings.topology_path),
        "--env", world.env, "--endpoint-url", str(settings.endpoint_url),
        "--region", str(settings.region), "--batch-size", "25", "--lease", "2",
        "--log-level", "ERROR",
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(*command, cwd=ROOT)
    try:
        for _ in range(3000):
            if process.returncode is not None or (await states(database_url))["sent"] > 0:
                break
            await asyncio.sleep(0.02)
        process.send_signal(signal.SIGKILL)  # as soon as its first batch is marked sent
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    at_kill = await states(database_url)
    assert 0 < at_kill["sent"] < len(committed), at_kill  # killed in the middle of the run

    relay = world.relay(database_url, batch_size=100, lease=2)
    try:  # on SQLite, it starts when the killed relay's lease has expired
        await until_nothing_pending(database_url, relay.drain)
    finally:
        await relay.close()

    assert await states(database_url) == {"pending": 0, "sent": len(committed), "parked": 0}
    received = await world.receive("sink", committed, within=90)
    assert set(received.counts) == set(committed)  # every committed event at least once
    assert not set(received.counts) & set(rolled_back)  # no rolled-back one, ever
    # copies come only from the batch in flight when the relay died (same event id)
    assert received.duplicates <= 25, received.duplicates
    print(f"\n{database_url.split(':')[0]}: {received.duplicates} duplicates after the kill")


@pytest.mark.timeout(60)
async def test_listen_notify_wakes_the_relay_on_postgresql(world: World, postgres_url: str) -> None:
    app_engine = create_engine(postgres_url)
    metadata.create_all(app_engine)  # with its NOTIFY trigger
    relay = world.relay(postgres_url, poll_interval=600)  # polling alone would not come back
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(1.0)  # the relay found nothing and waits
        [event_id] = add(app_engine, world.outbox(), [order(1, "woken")], commit=True)
        received = await world.receive("sink", [event_id], within=30)
        assert event_id in received.counts
    finally:
        stop.set()
        await task
        await relay.close()
        app_engine.dispose()
