"""The worker: every bound queue consumed in one asyncio process, and its graceful shutdown.

::

    async with AwsClients(settings) as aws:
        worker = Worker(aws, topology, env="dev", base_dir=Path("."))
        # options=WorkerOptions(...), middleware=[...], parts=WorkerParts(stats=..., ...)
        await worker.run(stop_event)      # until stop_event is set, then a graceful stop

Middlewares (``middleware=[...]``, then topology.yaml's ``middleware.consume``, then each queue's
own) wrap every delivery; see ``bus.worker.stack`` for the whole order (``publish_middleware=[...]``
go before topology.yaml's ``middleware.publish`` on the handlers' publisher). A queue that is
``idempotent`` is guarded by the store given (``parts=WorkerParts(store=...)``), or else the one
topology.yaml's ``idempotency`` names (per queue, or top level; ``memory`` by default).

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
from itertools import chain
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import structlog
from pydantic import BaseModel

from bus.aws import AwsClients
from bus.aws.errors import CONNECTION_ERROR
from bus.claimcheck.resolve import claim_reader
from bus.errors import AwsError
from bus.health import Readiness
from bus.middleware.consume import ConsumeMiddleware
from bus.middleware.idempotency import IdempotencyStore
from bus.middleware.load import consume_middlewares, publish_middlewares
from bus.middleware.publish import PublishMiddleware
from bus.schema import Registry
from bus.topology.model import Topology
from bus.worker import heap
from bus.worker.capacity import Capacity
from bus.worker.consumer import QueueConsumer, Shared
from bus.worker.loader import QueueBinding, build_store, load_bindings, store_ready
from bus.worker.poller import outage_pause
from bus.worker.queues import QueueInfo, resolve_queue
from bus.worker.scope import QueueScope
from bus.worker.stack import consume_stack
from bus.worker.stats import Stats
from bus.worker.watchdog import LoopObserver, LoopWatchdog, handler_codes

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
    freeze_startup: bool = False
    """Once started, keep the start-up heap (clients' models, modules, schemas) out of the
    interpreter's full collections until the worker stops (``bus.worker.heap``; ``bus worker``
    turns it on): each full collection then walks only what the worker made since."""
    blocked_after: float | None = 1.0
    """Seconds the event loop may go without running before the worker logs ``event loop
    blocked`` with the blocking code's file and line (``bus.worker.watchdog``); None or 0: off.
    1 s: far above what a healthy loop's callbacks take (milliseconds), below the heartbeat's
    margin (a message is extended at a third of its visibility timeout: a block of two thirds of
    it, 1.3 s for a 2 s timeout, lets SQS deliver it again)."""


@dataclass(frozen=True)
class WorkerParts:
    """Collaborators a worker otherwise makes for itself; give one to share it or to replace it::

    Worker(aws, topology, env="dev", parts=WorkerParts(registry=registry, stats=stats))
    """

    registry: Registry | None = None
    """The event types' models; None: built from the topology (models imported from ``base_dir``)."""
    publisher: Publisher | None = None
    """What ``ctx.publisher`` publishes through; None: a ``Publisher`` on the worker's clients, with
    topology.yaml's publish middlewares."""
    stats: Stats | None = None
    """The counters the worker keeps; None: fresh ones (``worker.stats``)."""
    store: IdempotencyStore | None = None
    """The store of every idempotent queue; None: each as topology.yaml says."""
    log: structlog.typing.FilteringBoundLogger | None = None
    """The worker's logger; None: ``bus.worker``."""


class Worker:
    """Runs the topology's handlers against their queues until stopped."""

    def __init__(
        self,
        aws: AwsClients,
        topology: Topology,
        *,
        env: str | None = None,
        base_dir: Path | None = None,
        options: WorkerOptions | None = None,
        middleware: Sequence[ConsumeMiddleware] = (),
        publish_middleware: Sequence[PublishMiddleware] = (),
        parts: WorkerParts | None = None,
    ) -> None:
        parts = parts or WorkerParts()
        if parts.publisher is not None and publish_middleware:
            raise TypeError(
                "Worker(publish_middleware=...) builds the handlers' publisher; with "
                "parts=WorkerParts(publisher=...) give the middleware to that Publisher instead"
            )
        self.aws = aws
        self.topology = topology
        self.env = env
        self.options = options or WorkerOptions()
        base = self._base = Path(base_dir) if base_dir is not None else Path.cwd()
        self.registry = parts.registry or Registry.from_topology(topology, base)
        self.bindings: list[QueueBinding] = load_bindings(
            topology, base, self.options.queues, self._model_of
        )
        self.publisher = (
            parts.publisher
            if parts.publisher is not None
            else self._default_publisher(publish_middleware)
        )
        self.stats = parts.stats or Stats()
        self.store: IdempotencyStore | None = parts.store
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
        self.claims = claim_reader(aws, topology, env)
        """Reads claim-check pointers' payloads: every consumer's decode step (``Processor``)."""
        self._log = parts.log or structlog.get_logger("bus.worker")
        self.watchdog = LoopWatchdog(
            self.options.blocked_after,
            self._log,
            handlers=handler_codes(self.bindings),
            stats=self.stats,
            observers=self._loop_observers(),
        )
        """Warns while the event loop is blocked (``WorkerOptions.blocked_after``), and tells the
        consume middlewares that are loop observers (``Metrics``) of each stretch; the workers
        on one loop share one watch of it (``bus.worker.loopwatch``): a stretch is reported once."""
        self.consumers: list[QueueConsumer] = []
        self._stopped = False
        self._frozen = False
        self.readiness = Readiness()
        """Started, not stopping, every poller receiving: what ``/readyz`` answers."""

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
                out[binding.queue] = build_store(config, self.aws, self.env, base, where)
                continue
            if shared is None:
                shared = build_store(config, self.aws, self.env, base, "idempotency")
            out[binding.queue] = shared
        return out

    def _model_of(self, event_type: str) -> type[BaseModel] | None:
        return self.registry.spec(event_type).model if event_type in self.registry else None

    def _loop_observers(self) -> list[LoopObserver]:
        """The consume middlewares, the worker's and each queue's, that want to hear of blocked
        stretches of the loop (each once)."""
        found: dict[int, LoopObserver] = {}
        for middleware in (*self.middleware, *chain.from_iterable(self._queue_middleware.values())):
            if isinstance(middleware, LoopObserver):
                found.setdefault(id(middleware), middleware)
        return list(found.values())

    def _default_publisher(self, extra: Sequence[PublishMiddleware]) -> Publisher | None:
        """The handlers' publisher: ``extra`` (``publish_middleware=``), then topology.yaml's."""
        from bus.publish.publisher import Publisher

        declared = publish_middlewares(self.topology.middleware.publish, self._base)
        middleware = [*extra, *declared]
        return Publisher(self.aws, self.registry, self.topology, self.env, middleware=middleware)

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
        self.aws.ensure_loop()
        infos = await self._resolve()
        await asyncio.gather(
            *(store_ready(s) for s in {id(s): s for s in self._stores.values()}.values())
        )
        limit = self.options.concurrency
        shared = Shared(
            self.registry,
            self.publisher,
            Capacity(limit) if limit else None,
            self.options.wait_seconds,
            self.readiness,
            self.claims,
        )
        for info, binding in zip(infos, self.bindings, strict=True):
            scope = QueueScope(
                info, binding, self.stats.queue(binding.queue), self._log.bind(queue=info.name)
            )
            stack = self.consume_stack(scope)
            self.consumers.append(QueueConsumer(self.aws.sqs, scope, shared, stack))
        if self.options.freeze_startup:
            self._log.info("start-up heap frozen", objects=heap.freeze())
            self._frozen = True
        self.watchdog.start()
        for consumer in self.consumers:
            consumer.start()
        self.readiness.started = True

    def consume_stack(self, scope: QueueScope) -> list[ConsumeMiddleware]:
        """Every middleware of ``scope``'s queue, in order (``bus.worker.stack``): the worker's,
        the topology's and the queue's own, inside bus's log context, idempotency and retry."""
        queue = scope.binding.queue
        outer = [*self.middleware, *self._queue_middleware[queue]]
        return consume_stack(scope, outer, self._stores.get(queue))

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
        self.readiness.stopping = True
        grace = self.options.shutdown_grace if grace is None else grace
        self._log.info("stopping", grace=grace)
        deadline = asyncio.get_running_loop().time() + grace
        try:
            for consumer in self.consumers:
                consumer.stop_receiving()
            await asyncio.gather(*(c.finish(deadline) for c in self.consumers))
            await asyncio.gather(*(c.close() for c in self.consumers))
            await self._close_stores()
        finally:
            self.watchdog.stop()
            if self._frozen:
                self._frozen = False
                heap.thaw()
        self._log.info("stopped")

    async def _close_stores(self) -> None:
        """Close the stores built from topology.yaml that hold connections (``close()``, as the
        SQL inbox's); a store given to the worker is its giver's to close."""
        built = {id(s): s for s in self._stores.values() if s is not self.store}
        for store in built.values():
            close = getattr(store, "close", None)
            if close is not None:
                await close()

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
