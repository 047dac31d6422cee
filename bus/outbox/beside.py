"""The relay inside another process's event loop: ``bus worker --outbox-relay URL``.

::

    async with aws:
        await worker.start()
        async with relay_beside(worker, "sqlite:///shop.db"):
            await worker.serve(stop)      # the relay publishes the outbox meanwhile

The relay shares the worker's AWS clients, topology and publish middlewares, and runs as a
background task until the block ends (the worker stopped gracefully, or failed): it is then told to
stop, finishes the batch it is publishing (those rows are marked; rows not yet claimed wait for the
next relay), gives up its lease and closes its connections. A relay that fails for good (not a
database outage, which it rides out) is logged at once and raised at the end of the block.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.engine import URL

from bus.outbox.database import open_engine
from bus.outbox.publish import OutboxPublisher
from bus.outbox.relay import Relay, RelayOptions

if TYPE_CHECKING:
    from bus.worker import Worker

log = structlog.get_logger("bus.outbox")


@asynccontextmanager
async def relay_beside(
    worker: Worker, url: str | URL, options: RelayOptions | None = None
) -> AsyncIterator[Relay]:
    """Run the relay of ``url``'s outbox in the background until the block ends (module doc)."""
    middleware = worker.publisher.middleware if worker.publisher is not None else ()
    publisher = OutboxPublisher(
        worker.aws, worker.registry, worker.topology, worker.env, middleware=middleware
    )
    relay = Relay(open_engine(url), publisher, options)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop), name="bus-outbox-relay")
    task.add_done_callback(_report)
    log.info("outbox.relay_started", database=relay.engine.url.render_as_string())
    try:
        yield relay
    finally:
        stop.set()
        try:
            await task
        finally:
            await relay.close()
            log.info("outbox.relay_stopped")


def _report(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("outbox.relay_failed", error=str(task.exception()))
