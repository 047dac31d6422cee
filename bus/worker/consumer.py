"""One queue's share of a worker: its pollers, dispatcher, batched deletes and heartbeat.

Every received message holds one slot of the queue's capacity (and of the process's) until it is
finished; standard queues run each message as its own task, FIFO queues one task per message group
(a lane, see ``fifo``). Shutdown is three steps, driven by the ``Worker``: stop receiving (what
was received but not started is released at once: messages waiting for a process slot, what FIFO
lanes hold behind the message they are handling), finish (or, past the deadline, cancel and
release) what is in flight, then drain the deletes. A long poll under way is let finish even past
the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import structlog

from bus.aws import AwsClients
from bus.schema import Registry
from bus.worker.acker import Acker
from bus.worker.capacity import Capacity
from bus.worker.dispatcher import Dispatcher, Outcome
from bus.worker.fields import delivery_fields
from bus.worker.fifo import Lanes
from bus.worker.heartbeat import Heartbeat
from bus.worker.idempotency import IdempotencyStore
from bus.worker.loader import QueueBinding
from bus.worker.message import Received
from bus.worker.poller import Poller, Receives
from bus.worker.queues import QueueInfo
from bus.worker.sqs import QueueOps
from bus.worker.stats import QueueStats

if TYPE_CHECKING:
    from bus.publish.publisher import Publisher

CANCEL_WAIT = 10.0


class QueueConsumer:
    """Consumes one queue with the handlers of its binding."""

    def __init__(
        self,
        aws: AwsClients,
        info: QueueInfo,
        binding: QueueBinding,
        *,
        registry: Registry,
        publisher: Publisher | None,
        stats: QueueStats,
        store: IdempotencyStore,
        process_capacity: Capacity | None,
        wait_seconds: int,
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        self.info = info
        self.binding = binding
        self.stats = stats
        self._log = log.bind(queue=info.name)
        self._ops = QueueOps(aws.sqs, info.url)
        self.capacity = Capacity(binding.concurrency)
        self._process_capacity = process_capacity
        self._wait = wait_seconds
        self.heartbeat = Heartbeat(self._ops, info.visibility_timeout, self._log)
        self.acker = Acker(self._ops, self._log, settled=self._settled)
        self._stopping = asyncio.Event()
        self.dispatcher = Dispatcher(
            info=info,
            binding=binding,
            registry=registry,
            publisher=publisher,
            ops=self._ops,
            dlq_ops=QueueOps(aws.sqs, info.dlq_url) if info.dlq_url else None,
            acker=self.acker,
            heartbeat=self.heartbeat,
            stats=stats,
            store=store,
            log=self._log,
            stopping=self._stopping,
            latest=self._latest,
        )
        self._pollers: dict[Poller, asyncio.Task[None]] = {}
        self._beat: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._receives = Receives()
        self.lanes = Lanes(
            process=self._limited,
            release=self.dispatcher.release,
            done=self._done,
            untrack=self.heartbeat.untrack,
            receives=self._receives,
            stopping=self._stopping,
            spawn=self._spawn,
            log=self._log,
        )

    def start(self) -> None:
        self._beat = asyncio.create_task(self.heartbeat.run(), name=f"heartbeat {self.info.name}")
        for n in range(self.binding.pollers):
            poller = Poller(
                self._ops,
                self.capacity,
                self._process_capacity,
                self._wait,
                self._dispatch,
                self.dispatcher.release,
                self._stopping.is_set,
                self._log,
                self._receives,
            )
            self._pollers[poller] = asyncio.create_task(
                poller.run(), name=f"poller {self.info.name} #{n + 1}"
            )
        self._log.info(
            "consuming",
            handlers=sorted(self.binding.handlers),
            concurrency=self.binding.concurrency,
            pollers=self.binding.pollers,
            fifo=self.info.fifo,
            visibility_timeout=self.info.visibility_timeout,
            max_receive_count=self.info.max_receive_count,
        )

    # -- dispatching ------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _done(self, count: int) -> None:
        self.capacity.release(count)
        self.stats.in_flight -= count

    def _settled(self, receipt: str, deleted: bool) -> None:
        """The acker is done with a delete: the heartbeat may let the message go."""
        self.heartbeat.untrack(receipt)
        if not deleted:
            self.stats.undeleted += 1

    def _latest(self, msg: Received) -> Received:
        return self.lanes.latest(msg) if self.info.fifo else msg

    def _dispatch(self, messages: Sequence[Received]) -> None:
        self.stats.received += len(messages)
        self.stats.in_flight += len(messages)
        for msg in messages:
            self.heartbeat.track(msg.receipt_handle, msg.received_at, msg.limit_from)
        if self.info.fifo:
            self.lanes.dispatch(messages)
        else:
            for msg in messages:
                self._spawn(self._one(msg))

    async def _limited(self, msg: Received) -> Outcome:
        """``dispatcher.process`` within the process-wide limit, when there is one; a message
        still waiting for a slot when the worker stops is released at once."""
        process = self._process_capacity
        if process is None:
            return await self.dispatcher.process(msg)
        try:
            got = await process.acquire_unless(self._stopping)
        except asyncio.CancelledError:
            await self.dispatcher.release([msg])
            raise
        if not got:
            await self.dispatcher.release([msg])
            return Outcome.RELEASED
        try:
            return await self.dispatcher.process(msg)
        finally:
            process.release(1)

    async def _one(self, msg: Received) -> None:
        try:
            await self._limited(msg)
        except Exception:
            self._unexpected([msg])
        finally:
            self._done(1)

    def _unexpected(self, messages: Sequence[Received]) -> None:
        for msg in messages:
            self.heartbeat.untrack(msg.receipt_handle)
            self._log.exception(
                "unexpected error; the message comes back after its visibility timeout",
                **delivery_fields(msg),
            )

    # -- shutdown ---------------------------------------------------------------------------------

    def stop_receiving(self) -> None:
        """No more receives: idle pollers stop now, those mid-receive release what they get;
        what FIFO lanes hold but have not started goes back now (waiting for a process slot
        sees the stop by itself)."""
        self._stopping.set()
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
