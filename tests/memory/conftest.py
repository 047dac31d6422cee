"""An in-memory AWS on a virtual clock for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from bus.memory import MemoryAws, VirtualClock, virtual_time


@pytest_asyncio.fixture
async def clock() -> AsyncIterator[VirtualClock]:
    with virtual_time() as clock:
        yield clock


@pytest_asyncio.fixture
async def memory(clock: VirtualClock) -> AsyncIterator[MemoryAws]:
    async with MemoryAws() as aws:
        yield aws
