"""Pollers: long-poll one queue for as many messages as there are free slots.

A poller reserves slots first (at least one, at most ten), then asks SQS for that many, so it
never receives more than the worker can start at once. Failed receives (an outage, throttling,
a missing queue for a moment) are logged and retried with capped exponential backoff. An error
that cannot heal by waiting (``FATAL_CODES``: the queue does not exist, access is denied, the
credentials are unknown) ends the poller after ``FATAL_TRIES`` such failures in a row with a
``FatalReceiveError`` naming queue and code; the worker then stops (``bus worker`` exits with 4).

Every receive is numbered (``Receives``) from the call until its messages are dispatched, so that a
FIFO lane can wait for the receives under way after it gave messages back (see ``fifo``).

On shutdown a poller that is waiting for slots stops at once; one in the middle of a long poll is
let finish (cancelling the request would not stop SQS from handing messages to it, which would then
stay invisible for a whole visibility timeout) and releases what it got at once, unhandled. It is
given until its long poll ends (``poll_ends``), even when that is past the shutdown deadline.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import structlog

from bus.aws.backoff import RetryConfig, backoff
from bus.clock import monotonic
from bus.errors import AwsError
from bus.worker.capacity import Capacity, reserve
from bus.worker.message import Received
from bus.worker.sqs import BATCH, QueueOps, call_failure

if TYPE_CHECKING:
    from bus.health import Readiness

MAX_PAUSE = 30.0
FIRST_PAUSE = 0.5
OUTAGE = RetryConfig(initial=FIRST_PAUSE, maximum=MAX_PAUSE)
POLL_SLACK = 2.0
"""Seconds a receive may take beyond its long-poll wait (the request's way there and back)."""
FATAL_TRIES = 3
"""Failed receives in a row with a code of ``FATAL_CODES`` after which a poller gives up."""
FATAL_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "KMS.AccessDeniedException",
    }
)
"""AWS error codes that waiting does not heal: a queue deleted, a policy or key that refuses."""


class FatalReceiveError(AwsError):
    """Receiving from a queue failed in a way that will not heal; the worker stops."""

    def __init__(self, queue: str, code: str, message: str) -> None:
        super().__init__(f"cannot receive from queue {queue}: {code}: {message}", code=code)
        self.queue = queue


def outage_pause(failures: int, jitter: float) -> float:
    """Seconds to wait after ``failures`` failed receives in a row: 0.5, 1, 2 ... 30, jittered."""
    return backoff(OUTAGE, failures, jitter)


class Receives:
    """Numbers one queue's receives, so that a FIFO lane can wait for those under way at a moment.

    ``mark()`` names that moment; ``passed(mark)`` returns once every receive begun before it has
    ended, its messages dispatched (or released).
    """

    def __init__(self) -> None:
        self._next = 0
        self._open: set[int] = set()
        self._ended = asyncio.Event()

    def begin(self) -> int:
        ticket = self._next
        self._next += 1
        self._open.add(ticket)
        return ticket

    def end(self, ticket: int) -> None:
        self._open.discard(ticket)
        self._ended.set()

    def mark(self) -> int:
        return self._next

    def under_way(self, mark: int) -> bool:
        return any(ticket < mark for ticket in self._open)

    async def passed(self, mark: int) -> None:
        while self.under_way(mark):
            self._ended.clear()
            await self._ended.wait()


@dataclass(frozen=True)
class Slots:
    """The capacities a receive reserves from: its queue's, and the process's (if limited)."""

    queue: Capacity
    process: Capacity | None = None


class Sink(Protocol):
    """Where a poller's messages go: the queue's consumer."""

    @property
    def stopping(self) -> bool: ...

    def dispatch(self, messages: Sequence[Received]) -> None:
        """Start ``messages`` (each holds one queue slot until it is finished; FIFO: but for those
        waiting behind the head of their group, ``bus.worker.fifo``)."""
        ...

    async def release(self, messages: Sequence[Received]) -> object:
        """Make ``messages`` visible again at once, unhandled (received while stopping)."""
        ...


class Poller:
    """One receive loop on one queue, handing each batch to its sink with its slots held."""

    def __init__(
        self,
        ops: QueueOps,
        slots: Slots,
        sink: Sink,
        wait_seconds: int,
        log: structlog.typing.FilteringBoundLogger,
        receives: Receives | None = None,
        readiness: Readiness | None = None,
    ) -> None:
        self._ops = ops
        self._slots = slots
        self._sink = sink
        self._wait = wait_seconds
        self._log = log
        self._receives = receives or Receives()
        self._readiness = readiness
        """Told when receiving fails and when it works again (``/readyz``)."""
        self.failures = 0
        self.fatal = 0
        """Failures in a row with a code of ``FATAL_CODES``."""
        self.receiving = False
        """True while a receive is in flight: the poller must then not be cancelled."""
        self.poll_ends: float | None = None
        """While receiving: the loop time by which the receive will have answered."""

    async def run(self) -> None:
        """Receive until stopping (or cancelled while waiting for slots); raise
        ``FatalReceiveError`` after ``FATAL_TRIES`` failures that will not heal."""
        while not self._sink.stopping:
            slots = await reserve(self._slots.queue, self._slots.process, BATCH)
            ticket = self._receives.begin()
            try:
                error = await self._receive(slots)
            finally:
                self._receives.end(ticket)
            if error is not None:  # an outage must not end the poller: back off, try again
                await self._pause(error)

    async def _receive(self, slots: int) -> Exception | None:
        """One receive of up to ``slots`` messages, dispatched (released when stopping); the
        error of a failed receive is returned, its slots given back."""
        capacity = self._slots.queue
        asked = monotonic()
        self.receiving = True
        self.poll_ends = asyncio.get_running_loop().time() + self._wait + POLL_SLACK
        try:
            raw = await self._ops.receive(slots, self._wait)
        except Exception as exc:
            capacity.release(slots)
            return exc
        except BaseException:
            capacity.release(slots)
            raise
        finally:
            self.receiving = False
            self.poll_ends = None
        if self.failures:
            self._log.info("receiving again", after_failures=self.failures)
            self.failures = self.fatal = 0
            if self._readiness is not None:
                self._readiness.receiving(self)
        now = monotonic()
        messages = [Received.from_sqs(m, now, asked) for m in raw]
        if self._sink.stopping:
            capacity.release(slots)
            await self._sink.release(messages)
            return None
        capacity.release(slots - len(messages))
        if messages:
            self._sink.dispatch(messages)
        return None

    async def _pause(self, exc: Exception) -> None:
        self.failures += 1
        code = call_failure(exc)
        if self._readiness is not None:
            self._readiness.failing(self, self._ops.url.rsplit("/", 1)[-1])
        self.fatal = self.fatal + 1 if code in FATAL_CODES else 0
        if self.fatal >= FATAL_TRIES:
            queue = self._ops.url.rsplit("/", 1)[-1]
            raise FatalReceiveError(queue, code, str(exc)) from exc
        pause = outage_pause(self.failures, random.random())
        self._log.warning(
            "receive failed; backing off",
            code=code,
            error=str(exc),
            failures=self.failures,
            pause=round(pause, 2),
        )
        await asyncio.sleep(pause)
