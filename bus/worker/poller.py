"""Pollers: long-poll one queue for as many messages as there are free slots.

A poller reserves slots first (at least one, at most ten), then asks SQS for that many, so it
never receives more than the worker can start at once. Failed receives (an outage, throttling,
a missing queue) are logged and retried with capped exponential backoff: a poller never gives up.

On shutdown a poller that is waiting for slots stops at once; one in the middle of a long poll is
let finish (cancelling the request would not stop SQS from handing messages to it, which would then
stay invisible for a whole visibility timeout) and releases what it got at once, unhandled.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog

from bus.errors import AwsError
from bus.worker.capacity import Capacity, reserve
from bus.worker.message import Received
from bus.worker.sqs import BATCH, QueueOps

MAX_PAUSE = 30.0
FIRST_PAUSE = 0.5


def outage_pause(failures: int, jitter: float) -> float:
    """Seconds to wait after ``failures`` failed receives in a row: 0.5, 1, 2 ... 30, jittered."""
    base: float = FIRST_PAUSE * 2.0 ** min(failures - 1, 16)
    return min(MAX_PAUSE, base) * (0.5 + 0.5 * jitter)


class Poller:
    """One receive loop on one queue, handing each batch to ``dispatch`` with its slots held."""

    def __init__(
        self,
        ops: QueueOps,
        capacity: Capacity,
        process_capacity: Capacity | None,
        wait_seconds: int,
        dispatch: Callable[[Sequence[Received]], None],
        release: Callable[[Sequence[Received]], Awaitable[None]],
        stopping: Callable[[], bool],
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        self._ops = ops
        self._capacity = capacity
        self._process_capacity = process_capacity
        self._wait = wait_seconds
        self._dispatch = dispatch
        self._release = release
        self._stopping = stopping
        self._log = log
        self.failures = 0
        self.receiving = False
        """True while a receive is in flight: the poller must then not be cancelled."""

    async def run(self) -> None:
        """Receive until stopping (or cancelled while waiting for slots)."""
        while not self._stopping():
            slots = await reserve(self._capacity, self._process_capacity, BATCH)
            self.receiving = True
            try:
                raw = await self._ops.receive(slots, self._wait)
            except Exception as exc:  # an outage must not end the poller: back off, try again
                self._capacity.release(slots)
                await self._pause(exc)
                continue
            except BaseException:
                self._capacity.release(slots)
                raise
            finally:
                self.receiving = False
            if self.failures:
                self._log.info("receiving again", after_failures=self.failures)
                self.failures = 0
            now = time.monotonic()
            messages = [Received.from_sqs(m, now) for m in raw]
            if self._stopping():
                self._capacity.release(slots)
                await self._release(messages)
                return
            self._capacity.release(slots - len(messages))
            if messages:
                self._dispatch(messages)

    async def _pause(self, exc: Exception) -> None:
        self.failures += 1
        pause = outage_pause(self.failures, random.random())
        self._log.warning(
            "receive failed; backing off",
            code=exc.code if isinstance(exc, AwsError) else type(exc).__name__,
            error=str(exc),
            failures=self.failures,
            pause=round(pause, 2),
        )
        await asyncio.sleep(pause)
