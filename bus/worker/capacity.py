"""Bounded concurrency that pollers reserve *before* they receive.

A poller asks for up to 10 slots, waits only until at least one is free, and receives at most as
many messages as it got; each message holds its slot until it is finished. So a worker never
receives more than it can start at once, and no message waits invisible in a local buffer.
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

    async def acquire(self, most: int) -> int:
        """Wait for a free slot, then take up to ``most`` of the free ones; return how many."""
        while self.free <= 0:
            self._released.clear()
            await self._released.wait()
        taken = max(1, min(most, self.free))
        self.free -= taken
        return taken

    def release(self, count: int = 1) -> None:
        if count <= 0:
            return
        self.free = min(self.limit, self.free + count)
        self._released.set()


async def reserve(queue: Capacity, process: Capacity | None, most: int) -> int:
    """Slots from the queue's capacity and then the process's; the extra queue slots go back."""
    taken = await queue.acquire(most)
    if process is None:
        return taken
    try:
        granted = await process.acquire(taken)
    except BaseException:
        queue.release(taken)
        raise
    queue.release(taken - granted)
    return granted


def give_back(queue: Capacity, process: Capacity | None, count: int = 1) -> None:
    queue.release(count)
    if process is not None:
        process.release(count)
