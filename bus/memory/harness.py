"""A test harness: a topology applied to the in-memory AWS on a virtual clock, bus's own
``Publisher``, and its ``Worker`` run until nothing is left to do::

    async with open_harness("topology.yaml") as shop:
        await shop.publish(OrderPlaced(...))
        stats = await shop.run_until_idle()
        assert stats.queue("billing").processed == 1
        (letter,) = shop.dead_letters("billing")        # what is in billing's DLQ, and why
        assert letter.failure.reason == "handler-error"

``run_until_idle`` starts a worker for the topology's handlers and stops it once every queue it
consumes is empty (no message visible, in flight or delayed) and no move task runs; visibility
timeouts, redelivery backoff and long polls pass in virtual time, so a test takes milliseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, MutableMapping, Sequence
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import structlog.testing
from pydantic import BaseModel

from bus.dlq.letter import DlqMessage, from_sqs
from bus.memory.aws import MemoryAws
from bus.memory.clock import VirtualClock, virtual_time
from bus.memory.queue import Message
from bus.memory.sqs_checks import select_attributes
from bus.middleware.consume import ConsumeMiddleware
from bus.middleware.load import publish_middlewares
from bus.publish.publisher import Publisher
from bus.publish.results import PublishResult
from bus.schema import Registry
from bus.topology.apply import converge
from bus.topology.feeds import services_of
from bus.topology.load import load_topology
from bus.topology.model import Topology, physical_name
from bus.worker import Stats, Worker, WorkerOptions, WorkerParts

IDLE_CHECK = 1.0
"""Virtual seconds between two looks at the queues while waiting for idleness."""
QUIET_CHECKS = 2


class NotIdleError(AssertionError):
    """The worker still had work after ``max_time`` virtual seconds."""


@dataclass
class Harness:
    """One topology on one in-memory AWS: publish, run the worker until idle, inspect queues."""

    aws: MemoryAws
    clock: VirtualClock
    topology: Topology
    registry: Registry
    env: str
    base_dir: Path
    logs: list[MutableMapping[str, Any]] = field(default_factory=list)
    """The log events bus emitted in the block (``structlog.testing.capture_logs``), unless the
    harness was opened with ``capture_logs=False``."""

    def publisher(self) -> Publisher:
        """bus's ``Publisher`` on the in-memory AWS, with topology.yaml's ``middleware.publish``
        (as ``Publisher.open`` and ``bus worker`` build it)."""
        declared = publish_middlewares(self.topology.middleware.publish, self.base_dir)
        return Publisher(self.aws, self.registry, self.topology, self.env, middleware=declared)

    async def publish(self, event: BaseModel, **context: Any) -> PublishResult:
        return await self.publisher().publish(event, **context)

    async def publish_many(
        self, events: Iterable[BaseModel], **context: Any
    ) -> list[PublishResult]:
        return await self.publisher().publish_many(events, **context)

    def worker(
        self,
        stats: Stats | None = None,
        *,
        middleware: Sequence[ConsumeMiddleware] = (),
        **options: Any,
    ) -> Worker:
        """A worker for the topology's handlers (``options``: ``WorkerOptions`` fields;
        ``middleware``: consume middlewares outside the declared ones, as ``Worker(middleware=)``)."""
        return Worker(
            self.aws, self.topology, env=self.env, base_dir=self.base_dir,
            options=WorkerOptions(**options), middleware=middleware,
            parts=WorkerParts(registry=self.registry, publisher=self.publisher(), stats=stats),
        )  # fmt: skip

    async def run_until_idle(
        self,
        *,
        stats: Stats | None = None,
        max_time: float = 86_400.0,
        middleware: Sequence[ConsumeMiddleware] = (),
        **options: Any,
    ) -> Stats:
        """Run a worker until its queues are empty; return its ``Stats``. Raises
        ``NotIdleError`` if work is left after ``max_time`` virtual seconds."""
        stats = stats or Stats()
        worker = self.worker(stats, middleware=middleware, **options)
        await worker.start()
        try:
            await self._until_idle([physical_name(q, self.env) for q in worker.queues], max_time)
        finally:
            await worker.stop()
        return stats

    async def _until_idle(self, names: list[str], max_time: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_time
        quiet = 0
        while quiet < QUIET_CHECKS:
            await asyncio.sleep(IDLE_CHECK)
            quiet = quiet + 1 if self._idle(names) else 0
            if loop.time() > deadline:
                busy = {n: len(self.aws.memory_sqs.queues[n].messages) for n in names
                        if n in self.aws.memory_sqs.queues}  # fmt: skip
                raise NotIdleError(f"still busy after {max_time} virtual seconds: {busy}")

    def _idle(self, names: list[str]) -> bool:
        queues = self.aws.memory_sqs.queues
        if any(queues[n].messages for n in names if n in queues):
            return False
        return not self.aws.memory_sqs.move_tasks.running()

    # -- looking inside ---------------------------------------------------------------------------

    def messages(self, queue: str) -> list[dict[str, Any]]:
        """The messages in ``queue`` (logical name) as ReceiveMessage would show them, without
        receiving them (every attribute included; no receipt handle)."""
        found = self.aws.memory_sqs.queues.get(physical_name(queue, self.env))
        if found is None:
            raise KeyError(f"no queue {queue} in environment {self.env}")
        return [_peek(m) for m in found.messages.values()]

    def dead_letters(self, queue: str) -> list[DlqMessage]:
        """The dead letters of ``queue``: the messages in its dead-letter queue (or in ``queue``
        itself when it has none, e.g. an EventBridge target DLQ), with their ``bus.failure``."""
        sqs = self.aws.memory_sqs
        found = sqs.queues.get(physical_name(queue, self.env))
        if found is None:
            raise KeyError(f"no queue {queue} in environment {self.env}")
        redrive = sqs.redrive(found)
        holder = redrive[0] if redrive else found
        feeds = self.topology.dead_letter_feeds()  # as bus dlq reads them: who writes there
        fed = next((f for n, f in feeds.items() if physical_name(n, self.env) == holder.name), ())
        services = services_of(fed)
        return [from_sqs(_peek(m), services=services) for m in holder.messages.values()]


@lru_cache(maxsize=16)
def _load(path: Path, mtime_ns: int, env: str) -> Topology:
    """The topology at ``path`` (frozen, so tests may share it): parsed once per file version."""
    return load_topology(path, env=env)


def _peek(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {
        "MessageId": message.id,
        "ReceiptHandle": "",
        "MD5OfBody": message.md5_body,
        "Body": message.body,
        "Attributes": message.system_attributes(),
    }
    if message.attributes:
        out["MessageAttributes"] = select_attributes(message.attributes, ["All"])
    return out


@asynccontextmanager
async def open_harness(
    topology: Topology | str | Path,
    *,
    env: str = "test",
    base_dir: str | Path | None = None,
    capture_logs: bool = True,
) -> AsyncIterator[Harness]:
    """Apply ``topology`` (a model, or the path of its YAML file) to a fresh in-memory AWS in
    ``env``, with the running event loop on a virtual clock until the block ends. ``base_dir``
    is where the topology's model and handler modules are imported from (default: the YAML's
    folder, or the current directory). With ``capture_logs`` bus's log events are collected in
    ``Harness.logs`` instead of being rendered (rendering tracebacks costs more than the test)."""
    if isinstance(topology, Topology):
        model, folder = topology, Path(base_dir) if base_dir else Path.cwd()
    else:
        path = Path(topology).resolve()  # noqa: ASYNC240 - once per harness
        model = _load(path, path.stat().st_mtime_ns, env)
        folder = Path(base_dir) if base_dir else path.parent
    with ExitStack() as stack:
        logs = stack.enter_context(structlog.testing.capture_logs()) if capture_logs else []
        clock = stack.enter_context(virtual_time())
        async with MemoryAws() as aws:
            await converge(aws, model, env)
            registry = Registry.from_topology(model, folder)
            yield Harness(aws, clock, model, registry, env, folder, logs)
