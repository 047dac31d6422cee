"""The worker: every bound queue consumed in one asyncio process, and its graceful shutdown.

::

    async with AwsClients(settings) as aws:
        worker = Worker(aws, topology, env="dev", base_dir=Path("."))
        await worker.run(stop_event)      # until stop_event is set, then a graceful stop

Shutdown (``stop()``, or ``run()``'s event): stop polling (a long poll in flight is let finish,
up to ``wait_seconds``, even past the grace; what it brings is made visible again at once);
messages received but not started are made visible again at once (those waiting for a process
slot, and those FIFO lanes hold behind the message they are handling); in-flight handlers may
finish until ``shutdown_grace`` seconds, after which they are cancelled and their messages made
visible again; queued deletes are sent. Nothing in flight is lost: whatever is not deleted comes
back to the queue.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import structlog
from pydantic import BaseModel

from bus.aws import AwsClients
from bus.aws.errors import CONNECTION_ERROR
from bus.errors import AwsError
from bus.schema import Registry
from bus.topology.model import Topology
from bus.worker.capacity import Capacity
from bus.worker.consumer import QueueConsumer
from bus.worker.idempotency import IdempotencyStore, MemoryStore
from bus.worker.loader import QueueBinding, load_bindings
from bus.worker.poller import outage_pause
from bus.worker.queues import QueueInfo, resolve_queue
from bus.worker.stats import Stats

if TYPE_CHECKING:
    from bus.publish.publisher import Publisher


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker runs; per-queue concurrency, pollers and retries come from the topology."""

    queues: tuple[str, ...] = ()
    """Logical queue names to consume; empty: every queue with handlers."""
    concurrency: int | None = None
    """Handlers running at once in this process, all queues together; None: no limit beyond each
    queue's own ``concurrency``."""
    shutdown_grace: float = 30.0
    """Seconds in-flight handlers may take to finish after a stop is asked for."""
    wait_seconds: int = 20
    """Long-poll wait of each receive (0-20)."""
    startup_timeout: float = 60.0
    """How long to keep trying to reach SQS at start-up before giving up."""


class Worker:
    """Runs the topology's handlers against their queues until stopped."""

    def __init__(
        self,
        aws: AwsClients,
        topology: Topology,
        *,
        env: str | None = None,
        base_dir: Path | None = None,
        registry: Registry | None = None,
        publisher: Publisher | None = None,
        options: WorkerOptions | None = None,
        stats: Stats | None = None,
        store: IdempotencyStore | None = None,
        log: structlog.typing.FilteringBoundLogger | None = None,
    ) -> None:
        self.aws = aws
        self.topology = topology
        self.env = env
        self.options = options or WorkerOptions()
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        self.registry = registry or Registry.from_topology(topology, base)
        self.bindings: list[QueueBinding] = load_bindings(
            topology, base, self.options.queues, self._model_of
        )
        self.publisher = publisher if publisher is not None else self._default_publisher()
        self.stats = stats or Stats()
        self.store: IdempotencyStore = store or MemoryStore()
        self._log = log or structlog.get_logger("bus.worker")
        self.consumers: list[QueueConsumer] = []
        self._stopped = False

    def _model_of(self, event_type: str) -> type[BaseModel] | None:
        return self.registry.spec(event_type).model if event_type in self.registry else None

    def _default_publisher(self) -> Publisher | None:
        from bus.publish.publisher import Publisher

        return Publisher(self.aws, self.registry, self.topology, self.env)

    @property
    def queues(self) -> list[str]:
        return [b.queue for b in self.bindings]

    # -- start ------------------------------------------------------------------------------------

    async def _resolve(self) -> Sequence[QueueInfo]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.startup_timeout
        failures = 0
        while True:
            try:
                return await asyncio.gather(
                    *(resolve_queue(self.aws, b.queue, self.env) for b in self.bindings)
                )
            except AwsError as exc:
                if exc.code != CONNECTION_ERROR or loop.time() >= deadline:
                    raise
                failures += 1
                self._log.warning("cannot reach SQS yet; retrying", error=str(exc))
                await asyncio.sleep(outage_pause(failures, random.random()))

    async def start(self) -> None:
        """Look the queues up (their real visibility timeout and redrive policy), start polling."""
        infos = await self._resolve()
        limit = self.options.concurrency
        process = Capacity(limit) if limit else None
        for info, binding in zip(infos, self.bindings, strict=True):
            self.consumers.append(
                QueueConsumer(
                    self.aws,
                    info,
                    binding,
                    registry=self.registry,
                    publisher=self.publisher,
                    stats=self.stats.queue(binding.queue),
                    store=self.store,
                    process_capacity=process,
                    wait_seconds=self.options.wait_seconds,
                    log=self._log,
                )
            )
        for consumer in self.consumers:
            consumer.start()

    # -- stop -------------------------------------------------------------------------------------

    async def stop(self, grace: float | None = None) -> None:
        """Stop polling, let in-flight handlers finish (up to ``grace`` s), drain the deletes."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.options.shutdown_grace if grace is None else grace
        self._log.info("stopping", grace=grace)
        deadline = asyncio.get_running_loop().time() + grace
        for consumer in self.consumers:
            consumer.stop_receiving()
        await asyncio.gather(*(c.finish(deadline) for c in self.consumers))
        await asyncio.gather(*(c.close() for c in self.consumers))
        self._log.info("stopped")

    async def run(self, stop: asyncio.Event) -> None:
        """Start, wait for ``stop`` to be set, stop gracefully."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
