"""One queue's share of a worker: its pollers, its pipeline, batched deletes and heartbeat.

Every received message holds one slot of the queue's capacity until it is finished (FIFO: but for
those waiting behind the head of their group, up to nine a group, see ``fifo``), and one of the
process's (``--concurrency``) while it is tried, not while it waits between tries (a FIFO backoff
in-process: ``pause``); standard queues run each message as its own task, FIFO queues one task
per message group (a lane, see ``fifo``). The parts each own one job: ``Poller`` receives,
``Processor`` runs the pipeline (middlewares and handler), ``Settler`` carries out outcomes,
``Acker`` batches deletes, ``Heartbeat`` extends visibility, ``Lanes`` keep FIFO groups in order;
the consumer is the ``Sink`` of its pollers, the ``LaneWork`` of its lanes and the ``Pauses`` of
its settler.

Shutdown is three steps, driven by the ``Worker``: stop receiving (what was received but not
started is released at once: messages waiting for a process slot, what FIFO lanes hold behind the
message they are handling), finish (or, past the deadline, cancel and release) what is in flight,
then drain the deletes. A long poll under way is let finish even past the deadline. A poller that
meets an error that will not heal ends with ``FatalReceiveError``: ``failure`` then holds it, and
the worker stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bus.claimcheck.resolve import ClaimReader
from bus.middleware.consume import ConsumeMiddleware
from bus.schema import Registry
from bus.worker.acker import Acker
from bus.worker.capacity import Capacity, Slot
from bus.worker.fields import delivery_fields
from bus.worker.fifo import Lanes
from bus.worker.handling import Processor
from bus.worker.heartbeat import Heartbeat
from bus.worker.message import Received, handling
from bus.worker.poller import Poller, Receives, Slots
from bus.worker.scope import QueueScope
from bus.worker.settle import Fate, Settler
from bus.worker.sqs import QueueOps

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

    from bus.health import Readiness
    from bus.publish.publisher import Publisher

CANCEL_WAIT = 10.0


@dataclass(frozen=True)
class Shared:
    """What the consumers of one worker share."""

    registry: Registry
    publisher: Publisher | None
    process: Capacity | None = None
    """The process-wide limit (``--concurrency``), if any."""
    wait_seconds: int = 20
    readiness: Readiness | None = None
    """Told by the pollers when receiving fails and works again."""
    claims: ClaimReader | None = None
    """Reads claim-check pointers' payloads (``bus.claimcheck``); None: bodies decode as they are."""


class QueueConsumer:
    """Consumes one queue with the handlers of its binding."""

    def __init__(
        self,
        sqs: SQSClient,
        scope: QueueScope,
        shared: Shared,
        middlewares: Sequence[ConsumeMiddleware] = (),
    ) -> None:
        info = scope.info
        self.scope = scope
        self.info = info
        self.binding = scope.binding
        self.stats = scope.stats
        self._log = scope.log
        self._shared = shared
        self._ops = QueueOps(sqs, info.url)
        self.capacity = Capacity(scope.binding.concurrency)
        self.heartbeat = Heartbeat(self._ops, info.visibility_timeout, self._log)
        self.acker = Acker(self._ops, self._log, settled=self._settled)
        self._receives = Receives()
        self.lanes = Lanes(self, self.capacity, self._receives, scope.stopping, self._log)
        dlq_ops = QueueOps(sqs, info.dlq_url) if info.dlq_url else None
        renewals = self.lanes if info.fifo else None
        self._slots: dict[str, Slot] = {}
        """The process slots of the messages being processed, by receipt handle."""
        self.settler = Settler(
            scope, self._ops, dlq_ops, self.acker, self.heartbeat, renewals, pauses=self
        )
        self.processor = Processor(
            scope, self.settler, shared.registry, shared.publisher, middlewares, shared.claims
        )
        self._pollers: dict[Poller, asyncio.Task[None]] = {}
        self._beat: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.failure: BaseException | None = None
        """What ended a poller (``FatalReceiveError``): the worker stops."""
        self.failed = asyncio.Event()

    def start(self) -> None:
        self._beat = asyncio.create_task(self.heartbeat.run(), name=f"heartbeat {self.info.name}")
        slots = Slots(self.capacity, self._shared.process)
        for n in range(self.binding.pollers):
            shared = self._shared
            poller = Poller(
                self._ops,
                slots,
                self,
                shared.wait_seconds,
                self._log,
                self._receives,
                shared.readiness,
            )
            task = asyncio.create_task(poller.run(), name=f"poller {self.info.name} #{n + 1}")
            task.add_done_callback(self._poller_ended)
            self._pollers[poller] = task
        self._log.info(
            "consuming",
            handlers=sorted(self.binding.handlers),
            concurrency=self.binding.concurrency,
            pollers=self.binding.pollers,
            fifo=self.info.fifo,
            visibility_timeout=self.info.visibility_timeout,
            max_receive_count=self.info.max_receive_count,
        )

    def _poller_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        if self.failure is None:
            self.failure = task.exception()
            self._log.error("receiving failed for good", error=str(self.failure))
        self.failed.set()

    # -- the pollers' sink and the lanes' work ----------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self.scope.stopping.is_set()

    def dispatch(self, messages: Sequence[Received]) -> None:
        self.stats.received += len(messages)
        self.stats.in_flight += len(messages)
        for msg in messages:
            self.heartbeat.track(msg.receipt_handle, msg.received_at, msg.limit_from)
        if self.info.fifo:
            self.lanes.dispatch(messages)
        else:
            # each leaves ``_tasks`` by itself when it ends (``_one``); named for the watchdog
            # (the loop's own create_task takes the name: no default name made first)
            tasks, create = self._tasks, asyncio.get_running_loop().create_task
            for msg in messages:
                tasks.add(create(self._one(msg), name=handling(msg.message_id)))

    async def release(self, messages: Sequence[Received]) -> set[str]:
        return await self.settler.release(messages)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def done(self, count: int) -> None:
        """``count`` messages are finished (their queue slots are given back by whoever holds
        them: a standard message's task, a FIFO lane)."""
        self.stats.in_flight -= count

    def untrack(self, receipt: str) -> None:
        self.heartbeat.untrack(receipt)

    def _settled(self, receipt: str, deleted: bool) -> None:
        """The acker is done with a delete: the heartbeat may let the message go."""
        self.heartbeat.untrack(receipt)
        if not deleted:
            self.stats.undeleted += 1

    async def process(self, msg: Received) -> Fate:
        """``processor.process`` within the process-wide limit, when there is one; a message
        still waiting for a slot when the worker stops is released at once."""
        process = self._shared.process
        if process is None:
            return await self.processor.process(msg)
        slot = Slot(process, self.scope.stopping)
        try:
            got = await slot.take()
        except asyncio.CancelledError:
            await self.release([msg])
            raise
        if not got:
            await self.release([msg])
            return Fate.RELEASED
        self._slots[msg.receipt_handle] = slot
        try:
            return await self.processor.process(msg)
        finally:
            if self._slots.get(msg.receipt_handle) is slot:
                del self._slots[msg.receipt_handle]
            slot.give_back()

    @contextlib.asynccontextmanager
    async def pause(self, msg: Received) -> AsyncIterator[None]:
        """A wait between ``msg``'s tries (the settler's): its process slot is free meanwhile,
        and taken again after it, unless the worker stops (then the settler gives the message
        back without another try); cancelled, it takes none."""
        slot = self._slots.get(msg.receipt_handle)
        if slot is None:
            yield
            return
        slot.give_back()
        yield
        await slot.take()

    async def _one(self, msg: Received) -> None:
        try:
            await (
                self.processor.process(msg) if self._shared.process is None else self.process(msg)
            )
        except Exception:
            self.heartbeat.untrack(msg.receipt_handle)
            self._log.exception(
                "unexpected error; the message comes back after its visibility timeout",
                **delivery_fields(msg),
            )
        finally:
            self.capacity.release(1)
            self.done(1)
            self._tasks.discard(asyncio.current_task())

    # -- shutdown ---------------------------------------------------------------------------------

    def stop_receiving(self) -> None:
        """No more receives: idle pollers stop now, those mid-receive release what they get;
        what FIFO lanes hold but have not started goes back now (waiting for a process slot
        sees the stop by itself)."""
        self.scope.stopping.set()
        for poller, task in self._pollers.items():
            if not poller.receiving:
                task.cancel()
        if self.info.fifo:
            self.lanes.stop()

    async def finish(self, deadline: float) -> None:
        """Wait for the last receives (each until its long poll ends, if that is later than
        ``deadline``), then for in-flight messages until ``deadline`` (loop time); past it,
        cancel what is left (a cancelled handler's message is released)."""
        polls = [p.poll_ends for p in self._pollers if p.poll_ends is not None]
        await self._wait_or_cancel(set(self._pollers.values()), max([deadline, *polls]), "receives")
        self._pollers.clear()
        await self._wait_or_cancel(set(self._tasks), deadline, "handlers")

    async def _wait_or_cancel(
        self, pending: set[asyncio.Task[None]], deadline: float, what: str
    ) -> None:
        if pending:
            timeout = max(0.0, deadline - asyncio.get_running_loop().time())
            _, pending = await asyncio.wait(pending, timeout=timeout)
        if pending:
            self._log.warning(f"shutdown deadline passed; cancelling {what}", count=len(pending))
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=CANCEL_WAIT)

    async def close(self) -> None:
        """Send every queued delete, then stop the heartbeat."""
        await self.acker.drain()
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
            self._beat = None
