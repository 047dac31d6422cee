"""One publish call as a pipeline: batches leave while later events are still being prepared.

::

    pipeline = Pipeline(resolve, retry=..., limiter=..., window=20)
    for item in prepared_events:        # validated and encoded one at a time
        await pipeline.add(item)        # a batch that became full starts sending now
    outcomes = await pipeline.finish()  # last partial batches, then retries of failed entries

Each destination of the call has a ``_Destination`` filling one batch at a time (10 entries, 256 KiB). A
full batch goes to a send task at once, and the feeder yields so that the call starts while it
prepares the next events. Calls in flight are bounded by the Publisher's ``limiter``; batches handed
off and not yet answered by ``window``, so the feeder waits rather than run far ahead of the network.
A FIFO lane sends its batches one after another, in order. Once every event is in, each lane retries
its failed entries (``delivery.retry_failed``). A send never raises: whatever goes wrong (an AWS
error, no credentials, a bug) becomes the outcome of each entry of its batch, so every event gets a
result. If the feeding fails, ``abort`` cancels the sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bus.publish.delivery import Outcomes, PublishRetry, retry_failed, send_batch
from bus.publish.prepare import Channel, Prepared
from bus.publish.senders import Batcher, Sender, failed_outcomes

Resolve = Callable[[Channel], Awaitable[Sender]]
"""Finds the sender of a channel (AWS lookups: queue URL, account); raises ``AwsError``, or
whatever else keeps it from being found (``SettingsError`` without credentials)."""


class _Destination:
    """One destination of one publish call: its batch being filled, its sender, its outcomes."""

    def __init__(self, channel: Channel, resolve: Resolve) -> None:
        self.channel = channel
        self.batcher = Batcher(lambda item: item.entry_size(channel))
        self.final: Outcomes = {}
        self.failed: list[Prepared] = []
        """Entries whose last attempt failed with a code worth retrying."""
        self.tail: asyncio.Task[None] | None = None
        """The latest send task (a FIFO lane's next batch waits for it)."""
        self._resolve = resolve
        self._sender: Sender | Exception | None = None
        self._lock = asyncio.Lock()

    async def sender(self) -> Sender | Exception:
        """The channel's sender, or the error that kept it from being found (looked up once)."""
        if self._sender is not None:  # found already: every batch after the first
            return self._sender
        async with self._lock:
            if self._sender is None:
                try:
                    self._sender = await self._resolve(self.channel)
                except Exception as exc:  # AwsError, SettingsError (no credentials), a bug
                    self._sender = exc
            return self._sender

    async def send(
        self, batch: list[Prepared], limiter: asyncio.Semaphore, after: asyncio.Task[None] | None
    ) -> None:
        """Send one batch; every entry gets an outcome, whatever fails (this never raises: a
        sender that cannot be found fails the batch here, one that raises in ``send_batch``)."""
        if after is not None:
            await asyncio.wait([after])
        sender = await self.sender()
        if isinstance(sender, Exception):
            for outcome in failed_outcomes(batch, sender):
                self.final[outcome.entry_id] = outcome
            return
        self.failed += await send_batch(sender, batch, limiter, self.final)

    async def settle(self, retry: PublishRetry, limiter: asyncio.Semaphore) -> None:
        """Retry the failed entries (every first attempt has been answered)."""
        if not self.failed:
            return
        sender = await self.sender()
        if not isinstance(sender, Exception):
            await retry_failed(sender, self.failed, self.final, retry=retry, limiter=limiter)


class Pipeline:
    """Feeds prepared events to their lanes and sends full batches while the feeding goes on."""

    def __init__(
        self,
        resolve: Resolve,
        *,
        retry: PublishRetry,
        limiter: asyncio.Semaphore,
        window: int,
    ) -> None:
        self._resolve = resolve
        self._retry = retry
        self._limiter = limiter
        self._window = asyncio.Semaphore(window)
        self._lanes: dict[Channel, _Destination] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def add(self, item: Prepared) -> None:
        """Put ``item`` in the batch of each of its channels; send the batches that are full."""
        for channel in item.channels:
            lane = self._lanes.get(channel)
            if lane is None:
                lane = self._lanes[channel] = _Destination(channel, self._resolve)
            for batch in lane.batcher.add(item):
                await self._launch(lane, batch)

    async def finish(self) -> dict[Channel, Outcomes]:
        """Send the last batches, wait for every answer, retry failed entries; the outcomes."""
        for lane in self._lanes.values():
            batch = lane.batcher.take()
            if batch:
                await self._launch(lane, batch)
        await asyncio.gather(*self._tasks)
        lanes = self._lanes.values()
        await asyncio.gather(*(lane.settle(self._retry, self._limiter) for lane in lanes))
        return {channel: lane.final for channel, lane in self._lanes.items()}

    async def abort(self) -> None:
        """Cancel the sends still running (the feeding failed or was cancelled)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _launch(self, lane: _Destination, batch: list[Prepared]) -> None:
        await self._window.acquire()
        self._tasks = [task for task in self._tasks if not _finished(task)]
        after = lane.tail if lane.channel.fifo else None
        task = asyncio.create_task(self._send(lane, batch, after))
        lane.tail = task
        self._tasks.append(task)
        await asyncio.sleep(0)  # let the call start before preparing more events

    async def _send(
        self, lane: _Destination, batch: list[Prepared], after: asyncio.Task[None] | None
    ) -> None:
        try:
            await lane.send(batch, self._limiter, after)
        finally:
            self._window.release()


def _finished(task: asyncio.Task[None]) -> bool:
    """Whether ``task`` is done; raises what it raised (a send never does: outcomes record errors)."""
    if not task.done():
        return False
    task.result()
    return True
