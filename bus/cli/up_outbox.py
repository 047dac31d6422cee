"""``bus up``'s transactional outbox: the application's database and the relay beside the workers.

With sample traffic on, ``bus up`` gives the application a database — ``$BUS_OUTBOX_URL`` when set,
else SQLite in ``.bus/shop.db`` (the embedded default) — creates the outbox table there, exports
``BUS_OUTBOX_URL`` and ``BUS_TOPOLOGY`` to the application it runs (the reference traffic places
its orders through the outbox when they are set, ``handlers/traffic.py``), and runs the relay
beside the workers (``bus.outbox.beside``), stopped after them. Rows the relay sent count as
published in the live table. Without SQLAlchemy it says what to install and the traffic publishes
directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bus.cli.traffic import TrafficStats
from bus.settings import Settings

if TYPE_CHECKING:
    from bus.outbox import Relay
    from bus.worker import Worker

INSTALL = "pip install 'bus-framework[sqlalchemy]'"


def outbox_url(state_dir: Path) -> str:
    """``$BUS_OUTBOX_URL``, else the SQLite file ``shop.db`` in ``state_dir``."""
    return os.environ.get("BUS_OUTBOX_URL") or f"sqlite:///{state_dir.resolve() / 'shop.db'}"


@asynccontextmanager
async def outbox_beside(
    worker: Worker,
    settings: Settings,
    state_dir: Path,
    traffic: TrafficStats,
    say: Callable[[str], None],
) -> AsyncIterator[str | None]:
    """The relay of the application's outbox beside ``worker`` until the block ends; yields its
    database URL (``None`` without SQLAlchemy, after saying what to install)."""
    try:
        from bus.outbox import RelayOptions, init
        from bus.outbox.beside import relay_beside
        from bus.outbox.database import open_engine
    except ModuleNotFoundError:
        say(f"sample orders are published directly; for the outbox: {INSTALL}")
        yield None
        return
    url = outbox_url(state_dir)
    engine = open_engine(url)
    try:
        await init(engine)
    finally:
        await engine.dispose()
    os.environ["BUS_OUTBOX_URL"] = url
    os.environ["BUS_TOPOLOGY"] = str(settings.topology_path)
    options = RelayOptions(poll_interval=0.2)
    async with relay_beside(worker, url, options) as relay:
        counted = Counted(relay, traffic)
        mirror = asyncio.create_task(counted.follow())
        try:
            yield url
        finally:
            mirror.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await mirror
    counted.update()  # the last batch, sent while the relay stopped


class Counted:
    """Adds the rows ``relay`` sent to ``traffic.published``, as they go."""

    def __init__(self, relay: Relay, traffic: TrafficStats) -> None:
        self.relay = relay
        self.traffic = traffic
        self.counted = 0

    def update(self) -> None:
        sent = self.relay.totals.sent
        self.traffic.published += sent - self.counted
        self.counted = sent

    async def follow(self) -> None:
        while True:
            self.update()
            await asyncio.sleep(0.25)


class OutboxRelay:
    """``bus up``'s relay, running until ``stop`` (``bus.cli.up.wind_down`` stops it last)."""

    def __init__(self, stack: contextlib.AsyncExitStack) -> None:
        self._stack = stack

    async def stop(self) -> None:
        await self._stack.aclose()


async def start_outbox(
    sample: object | None,
    worker: Worker,
    settings: Settings,
    state_dir: Path,
    traffic: TrafficStats,
    say: Callable[[str], None],
) -> OutboxRelay | None:
    """With sample traffic (``sample``), the relay beside ``worker`` (``outbox_beside``)."""
    if sample is None:
        return None
    stack = contextlib.AsyncExitStack()
    await stack.enter_async_context(outbox_beside(worker, settings, state_dir, traffic, say))
    return OutboxRelay(stack)
