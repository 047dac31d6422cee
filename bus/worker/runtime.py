"""The worker: every bound queue consumed in one asyncio process, and its graceful shutdown.

::

    async with AwsClients(settings) as aws:
        worker = Worker(aws, topology, env="dev", base_dir=Path("."))
        await worker.run(stop_event)      # until stop_event is set, then a graceful stop

Middlewares (``middleware=[...]``, then topology.yaml's ``middleware.consume``, then each queue's
own) wrap every delivery; see ``bus.worker.stack`` for the whole order. A queue that is
``idempotent`` is guarded by the store given (``store=``), or else the one topology.yaml's
``idempotency`` names (per queue, or top level; ``memory`` by default).

Shutdown (``stop()``, or ``run()``'s event): stop polling (a long poll in flight is let finish,
up to ``wait_seconds``, even past the grace; what it brings is made visible again at once);
messages received but not started are made visible again at once (those waiting for a process
slot, and those FIFO lanes hold behind the message they are handling); in-flight handlers may
finish until ``shutdown_grace`` seconds, after which they are cancelled and their messages made
visible again; queued deletes are sent. Nothing in flight is lost: whatever is not deleted comes
back to the queue. A receive error that will not heal (``FatalReceiveError``: the queue was
deleted, access is denied) stops the worker the same way, and ``run()`` then raises it.
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
from bus.claimcheck.resolve import claim_reader
from bus.errors import AwsError
from bus.middleware.consume import ConsumeMiddleware
from bus.middleware.idempotency import IdempotencyStore
from bus.middleware.load import consume_middlewares, idempotency_store, publish_middlewares
from bus.schema import Registry
from bus.topology.model import Topology
from bus.worker.capacity import Capacity
from bus.worker.consumer import QueueConsumer, Shared
from bus.worker.loader import QueueBinding, load_bindings
from bus.worker.poller import outage_pause
from bus.worker.queues import QueueInfo, resolve_queue
from bus.worker.scope import QueueScope
from bus.worker.stack import consume_stack
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
        middleware: Sequence[ConsumeMiddleware] = (),
    ) -> None:
        self.aws = aws
        self.topology = topology
        self.env = env
        self.options = options or WorkerOptions()
        base = self._base = Path(base_dir) if base_dir is not None else Path.cwd()
        self.registry = registry or Registry.from_topology(topology, base)
        self.bindings: list[QueueBinding] = load_bindings(
            topology, base, self.options.queues, self._model_of
        )
        self.publisher = publisher if publisher is not None else self._default_publisher()
        self.stats = stats or Stats()
        self.store: IdempotencyStore | None = store
        """The store of every idempotent queue; None: each as topology.yaml says."""
        self.middleware: list[ConsumeMiddleware] = [
            *middleware,
            *consume_middlewares(topology.middleware.consume, base, "middleware.consume"),
        ]
        self._queue_middleware = {
            b.queue: consume_middlewares(b.middleware, base, f"handlers.{b.queue}.middleware")
            for b in self.bindings
        }
        self._stores = self._idempotency_stores(base)
        self.claims = claim_reader(aws, topology)
        """Reads claim-check pointers' payloads: every consumer's decode step (``Processor``)."""
        self._log = log or structlog.get_logger("bus.worker")
        self.consumers: list[QueueConsumer] = []
        self._stopped = False

    def _idempotency_stores(self, base: Path) -> dict[str, IdempotencyStore]:
        """The store of each idempotent queue: ``store``, or the one its topology names (the
        top-level one is shared by every queue that does not name its own)."""
        out: dict[str, IdempotencyStore] = {}
        shared: IdempotencyStore | None = self.store
        for binding in self.bindings:
            config = binding.idempotency
            if config is None:
                continue
            if self.store is None and config is not self.topology.idempotency:
                where = f"handlers.{binding.queue}.idempotency"
                out[binding.queue] = idempotency_store(config, base, where)
                continue
            if shared is None:
                shared = idempotency_store(config, base, "idempotency")
            out[binding.queue] = shared
        return out

    def _model_of(self, event_type: str) -> type[BaseModel] | None:
        return self.registry.spec(event_type).model if event_type in self.registry else None

    def _default_publisher(self) -> Publisher | None:
        from bus.publish.publisher import Publisher

        declared = publish_middlewares(self.topology.middleware.publish, self._base)
        return Publisher(self.aws, self.registry, self.topology, self.env, middleware=declared)

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
        shared = Shared(
            self.registry,
            self.publisher,
            Capacity(limit) if limit else None,
            self.options.wait_seconds,
            self.claims,
        )
        for info, binding in zip(infos, self.bindings, strict=True):
            scope = QueueScope(
                info, binding, self.stats.queue(binding.queue), self._log.bind(queue=info.name)
            )
            outer = [*self.middleware, *self._queue_middleware[binding.queue]]
            stack = consume_stack(scope, outer, self._stores.get(binding.queue))
            self.consumers.append(QueueConsumer(self.aws.sqs, scope, shared, stack))
        for consumer in self.consumers:
            consumer.start()

    @property
    def failure(self) -> BaseException | None:
        """What made a queue's receiving fail for good (``FatalReceiveError``), if anything."""
        return next((c.failure for c in self.consumers if c.failure is not None), None)

    async def serve(self, stop: asyncio.Event) -> None:
        """Once started: run until ``stop`` is set or a queue fails for good, then stop gracefully;
        raise that failure, if it was one."""
        waits = [asyncio.ensure_future(stop.wait())]
        waits += [asyncio.ensure_future(c.failed.wait()) for c in self.consumers]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            await self.stop()
        failure = self.failure
        if failure is not None:
            raise failure

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
        """Start, wait for ``stop`` to be set, stop gracefully (see ``serve``)."""
        await self.start()
        await self.serve(stop)

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
