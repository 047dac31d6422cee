"""The idempotency guard: skip events already handled successfully (``idempotent: true``).

The store is a small Protocol so that a persistent one (DynamoDB, Redis, a SQL table) can replace
the in-memory default. Keys are ``<queue>:<event id>``: the same event handled by two queues is two
handlings. A key is recorded only after its handler succeeded, so a failure never hides an event.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol


class IdempotencyStore(Protocol):
    async def seen(self, key: str) -> bool:
        """Whether ``key`` was recorded as handled."""
        ...

    async def record(self, key: str) -> None:
        """Remember that ``key`` was handled successfully."""
        ...


class MemoryStore:
    """The default store: the most recent ``capacity`` keys of this process, in memory."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()

    async def seen(self, key: str) -> bool:
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        return False

    async def record(self, key: str) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self.capacity:
            self._keys.popitem(last=False)

    def __len__(self) -> int:
        return len(self._keys)


def idempotency_key(queue: str, event_id: str) -> str:
    return f"{queue}:{event_id}"
