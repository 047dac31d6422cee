"""A virtual clock for asyncio: when every task waits, time jumps to the next timer.

``virtual_time()`` patches the running event loop (CPython's selector loop) in place: ``loop.time()``
runs ahead of real time by an offset, and whenever the loop would block waiting for its next timer
with no I/O ready, the offset grows by the wait instead. A visibility timeout of 30 s, a worker's
backoff of a minute or a 20 s long poll then take no real time, and their order is kept. Real I/O
still works (it is polled before every jump); work handed to threads does not hold time back, so
a test that waits for a thread should not also rely on timeouts.

On exit the loop gets its own clock back, and timers scheduled inside the block that are still
pending are moved back by the offset (timers from before the block keep their times), so the rest
of the session (a session-scoped loop) keeps its timings.
"""

from __future__ import annotations

import asyncio
import heapq
import selectors
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _LeapingSelector:
    """Wraps the loop's selector: polls I/O without blocking, and leaps instead of waiting."""

    def __init__(self, inner: selectors.BaseSelector, clock: VirtualClock) -> None:
        self._inner = inner
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = self._inner.select(0)
        if events or timeout == 0:
            return events
        if timeout is None:  # nothing scheduled: only I/O can wake the loop
            return self._inner.select(None)
        self._clock.offset += timeout
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class VirtualClock:
    """The offset by which the patched loop's time runs ahead of real time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.offset = 0.0
        self._real = type(loop).time

    def time(self) -> float:
        return self._real(self.loop) + self.offset

    @property
    def elapsed(self) -> float:
        """Virtual seconds skipped so far."""
        return self.offset

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` at once (timers due by then fire on the next turn)."""
        self.offset += seconds


@contextmanager
def virtual_time(loop: asyncio.AbstractEventLoop | None = None) -> Iterator[VirtualClock]:
    """Run ``loop`` (the running one by default) on a ``VirtualClock`` inside the block."""
    loop = loop or asyncio.get_running_loop()
    patched: Any = loop
    selector = getattr(patched, "_selector", None)
    if selector is None or not hasattr(patched, "_scheduled"):
        raise RuntimeError(f"virtual_time needs an asyncio selector event loop, not {type(loop)}")
    if isinstance(selector, _LeapingSelector):
        raise RuntimeError("virtual_time is already active on this loop")
    clock = VirtualClock(loop)
    before = {id(handle) for handle in patched._scheduled}
    patched.time = clock.time
    patched._selector = _LeapingSelector(selector, clock)
    try:
        yield clock
    finally:
        patched._selector = selector
        del patched.time
        for handle in patched._scheduled:
            if id(handle) not in before:  # scheduled in virtual time: back to the loop's clock
                handle._when -= clock.offset
        heapq.heapify(patched._scheduled)
