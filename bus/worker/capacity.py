"""Bounded concurrency that pollers reserve *before* they receive.

Per queue: a poller asks for up to 10 slots, waits only until at least one is free, and receives
at most as many messages as it got; each message holds its slot until it is finished. So a queue
never has more messages received than its ``concurrency``, and none waits invisible in a buffer;
except on a FIFO queue, where the messages waiting behind the head of their group (which do no
work) give their slots back, up to nine a group (``bus.worker.fifo``): at most ``10 *
concurrency`` messages received, no more than ``concurrency`` of them handled or held at once.

Per process (``--concurrency``): a slot is held only while a message is being tried (``Slot``):
a FIFO message waiting out its redelivery backoff in-process, or the next try of its DLQ send,
gives its slot back meanwhile and takes one again before it goes on. A poller receives only when
the process has free slots (and asks for no more than are free), but does not hold them during
its long poll, so idle queues cannot starve busy ones; when several pollers receive at once, a
message may wait a moment for a slot (its visibility is kept by the heartbeat; a stop releases it
at once, ``acquire_unless``).
"""

from __future__ import annotations

import asyncio


class Capacity:
    """A counting limit handing out up to ``most`` slots at once."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a capacity needs at least one slot")
        self.limit = limit
        self.free = limit
        self._released = asyncio.Event()

    @property
    def in_use(self) -> int:
        return self.limit - self.free

    async def wait_free(self) -> None:
        """Wait until at least one slot is free (without taking it)."""
        while self.free <= 0:
            self._released.clear()
            await self._released.wait()

    async def acquire(self, most: int = 1) -> int:
        """Wait for a free slot, then take up to ``most`` of the free ones; return how many."""
        await self.wait_free()
        taken = max(1, min(most, self.free))
        self.free -= taken
        return taken

    async def acquire_unless(self, stop: asyncio.Event) -> bool:
        """Take one slot; or return False as soon as ``stop`` is set, taking none."""
        while self.free <= 0:
            if stop.is_set():
                return False
            self._released.clear()
            released = asyncio.ensure_future(self._released.wait())
            stopped = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait((released, stopped), return_when=asyncio.FIRST_COMPLETED)
            finally:
                released.cancel()
                stopped.cancel()
        if stop.is_set():
            return False
        self.free -= 1
        return True

    def release(self, count: int = 1) -> None:
        if count <= 0:
            return
        self.free = min(self.limit, self.free + count)
        self._released.set()


class Slot:
    """One message's slot of ``capacity``: taken for its tries, given back while it waits between
    them; ``held`` says whether it has it now, so it is never given back twice."""

    def __init__(self, capacity: Capacity, stop: asyncio.Event) -> None:
        self._capacity = capacity
        self._stop = stop
        self.held = False

    async def take(self) -> bool:
        """Take the slot, waiting for a free one; False, taking none, once ``stop`` is set."""
        if not self.held:
            self.held = await self._capacity.acquire_unless(self._stop)
        return self.held

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self._capacity.release(1)


async def reserve(queue: Capacity, process: Capacity | None, most: int) -> int:
    """Queue slots for one receive: at most ``most``, and no more than the process has free."""
    taken = await queue.acquire(most)
    if process is None:
        return taken
    try:
        await process.wait_free()
    except BaseException:
        queue.release(taken)
        raise
    keep = max(1, min(taken, process.free))
    queue.release(taken - keep)
    return keep
