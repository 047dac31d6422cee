"""The relay inside ``bus worker`` (``--outbox-relay``): it publishes while the worker serves, and
stops with it, its last batch marked and its lease given up."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from bus.outbox import RelayOptions, metadata
from bus.outbox.beside import relay_beside
from bus.outbox.claim import LeaseClaimer
from bus.outbox.database import open_engine
from bus.publish import load_registry
from bus.worker import Worker, WorkerParts
from tests.outbox.conftest import ROOT, World, add, order
from tests.outbox.test_relay_aws import states

pytestmark = pytest.mark.aws


async def test_the_relay_runs_beside_the_worker_and_stops_with_it(
    world: World, app_engine: Engine, database_url: str
) -> None:
    outbox = world.outbox()
    before = add(app_engine, outbox, [order(i, "w") for i in range(20)], commit=True)
    topology, registry = load_registry(world.settings.topology_path, world.env)
    worker = Worker(
        world.aws, topology, env=world.env, base_dir=ROOT, parts=WorkerParts(registry=registry)
    )
    await worker.start()
    stop = asyncio.Event()
    options = RelayOptions(poll_interval=0.1, retention=0)
    async with relay_beside(worker, database_url, options) as relay:
        serving = asyncio.create_task(worker.serve(stop))
        try:
            first = await world.receive("sink", before)
            # off the event loop, as an application's own thread writes: a blocking SQLite write
            # on the loop would wait for the relay's open transaction, whose commit needs the loop
            during = await asyncio.to_thread(
                add, app_engine, outbox, [order(i, "x") for i in range(5)], commit=True
            )
            second = await world.receive("sink", during)
        finally:
            stop.set()  # SIGTERM: the worker stops, then the relay
            await serving
    assert set(first.counts) == set(before)
    assert set(second.counts) == set(during)
    assert first.duplicates == second.duplicates == 0
    assert await states(database_url) == {"pending": 0, "sent": 0, "parked": 0}  # retention 0
    assert relay.engine.pool.checkedout() == 0
    if relay.engine.dialect.name == "sqlite":  # the lease was given up: another relay takes it
        engine = open_engine(database_url)
        try:
            assert await LeaseClaimer(engine, 30).hold()
        finally:
            await engine.dispose()


@pytest.mark.timeout(120)
async def test_bus_worker_outbox_relay_publishes_and_stops_on_sigterm(
    world: World, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    app_engine = create_engine(url)
    metadata.create_all(app_engine)
    ids = add(app_engine, world.outbox(), [order(i, "cli") for i in range(10)], commit=True)
    settings = world.settings
    command = [
        sys.executable, "-c", "import cli; cli.main()", "worker",
        "--topology", str(settings.topology_path), "--env", world.env,
        "--endpoint-url", str(settings.endpoint_url), "--region", str(settings.region),
        "--wait-seconds", "1", "--outbox-relay", url, "--log-level", "ERROR",
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(*command, cwd=ROOT)
    try:
        received = await world.receive("sink", ids)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 0
    assert set(received.counts) == set(ids)
    assert (await states(url))["sent"] == len(ids)
    engine = open_engine(url)
    try:  # it gave up its lease when it stopped
        assert await LeaseClaimer(engine, 30).hold()
    finally:
        await engine.dispose()
        app_engine.dispose()
