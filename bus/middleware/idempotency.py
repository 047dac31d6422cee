"""Idempotency: each event handled once per queue, even when two copies arrive together.

The store contract is an atomic claim (as Powertools' persistence layer): ``claim(key, expires)``
answers ``completed`` (handled before: the copy is skipped and deleted), ``in-progress`` (another
copy holds the claim and it has not expired: this copy is *not* deleted but redelivered later, so
that it is handled should the other one fail) or ``claimed`` (this copy runs the handler, then
``complete`` on success, ``release`` on anything else, so a failure never hides an event). A claim
left by a process that died expires after ``expires`` seconds.

Keys are ``<queue>:<event id>``: the same event handled by two queues is two handlings. On top of
the store, the guard keeps the keys it is running in memory (an in-process in-flight set), so two
copies in one process never both reach a handler even with a store that is slow to answer.

A durable store (DynamoDB, SQL, Redis) implements ``IdempotencyStore`` and is named in
topology.yaml: ``idempotency: {store: "package.module:factory", options: {...}}``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from bus.middleware.consume import DUPLICATE, CallNext, Incoming, Outcome

ClaimStatus = Literal["claimed", "completed", "in-progress"]


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer of ``IdempotencyStore.claim``; ``result`` is what ``complete`` stored."""

    status: ClaimStatus
    result: str | None = None


@runtime_checkable
class IdempotencyStore(Protocol):
    """Where handled (and in-progress) event keys are kept; every method must be atomic."""

    async def claim(self, key: str, expires: float) -> Claim:
        """Claim ``key`` as in progress for ``expires`` seconds, unless it is completed or
        claimed (and not expired) already; atomically."""
        ...

    async def complete(self, key: str, result: str | None = None) -> None:
        """Mark a claimed ``key`` handled (with an optional result to hand later copies)."""
        ...

    async def release(self, key: str) -> None:
        """Drop the claim on ``key`` (its handling failed): the next copy may claim it."""
        ...


class MemoryStore:
    """The default store: this process's most recent ``capacity`` keys, in memory."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._keys: OrderedDict[str, tuple[float | None, str | None]] = OrderedDict()
        """key -> (in-progress until, monotonic; None once completed), result."""

    async def claim(self, key: str, expires: float) -> Claim:
        now = time.monotonic()
        held = self._keys.get(key)
        if held is not None:
            until, result = held
            if until is None:
                self._keys.move_to_end(key)
                return Claim("completed", result)
            if until > now:
                return Claim("in-progress")
        self._keys[key] = (now + expires, None)
        self._keys.move_to_end(key)
        while len(self._keys) > self.capacity:
            self._keys.popitem(last=False)
        return Claim("claimed")

    async def complete(self, key: str, result: str | None = None) -> None:
        self._keys[key] = (None, result)
        self._keys.move_to_end(key)

    async def release(self, key: str) -> None:
        held = self._keys.get(key)
        if held is not None and held[0] is not None:
            del self._keys[key]

    def __len__(self) -> int:
        return len(self._keys)


def idempotency_key(queue: str, event_id: str) -> str:
    return f"{queue}:{event_id}"


class Idempotency:
    """The consume middleware guarding a queue's handler with an ``IdempotencyStore``."""

    def __init__(self, store: IdempotencyStore, *, expires: float, redeliver_after: int) -> None:
        self.store = store
        self.expires = expires
        """Seconds an in-progress claim holds (a crashed worker's claim frees up after it)."""
        self.redeliver_after = redeliver_after
        """Seconds after which a copy found in progress elsewhere comes back."""
        self._running: set[str] = set()

    def _in_progress(self) -> Outcome:
        return Outcome("redeliver", reason="in-progress", delay=self.redeliver_after)

    async def __call__(self, delivery: Incoming, call_next: CallNext) -> None:
        env = delivery.envelope
        if env is None or delivery.outcome is not None:
            await call_next(delivery)
            return
        key = idempotency_key(delivery.queue, env.id)
        if key in self._running:
            delivery.outcome = self._in_progress()
            return
        self._running.add(key)
        try:
            await self._guarded(key, delivery, call_next)
        finally:
            self._running.discard(key)

    async def _guarded(self, key: str, delivery: Incoming, call_next: CallNext) -> None:
        claim = await self.store.claim(key, self.expires)
        if claim.status == "completed":
            delivery.outcome = DUPLICATE
            return
        if claim.status == "in-progress":
            delivery.outcome = self._in_progress()
            return
        done = False
        try:
            await call_next(delivery)
            outcome = delivery.outcome
            if outcome is not None and outcome.kind == "handled":
                await self.store.complete(key)
                done = True
        finally:
            if not done:
                await self.store.release(key)
