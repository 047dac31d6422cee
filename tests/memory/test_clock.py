"""The virtual clock: waits take virtual time only, in order, and the loop gets its clock back."""

from __future__ import annotations

import asyncio

import pytest

from bus.memory import virtual_time


async def test_sleeping_advances_virtual_time_in_order() -> None:
    loop = asyncio.get_running_loop()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        woke.append((name, loop.time()))

    with virtual_time() as clock:
        start = loop.time()
        await asyncio.gather(sleeper("hour", 3600), sleeper("minute", 60), sleeper("day", 86400))
        assert [name for name, _ in woke] == ["minute", "hour", "day"]
        assert woke[-1][1] - start >= 86400
        assert clock.elapsed >= 86400 - 1


async def test_leaving_moves_pending_timers_back_to_real_time() -> None:
    loop = asyncio.get_running_loop()
    with virtual_time():
        await asyncio.sleep(1000)
        pending = loop.call_later(5, lambda: None)
    # scheduled 5 virtual seconds ahead; after the clock is restored, still about 5 s ahead
    assert 0 < pending.when() - loop.time() <= 5
    pending.cancel()


async def test_timeouts_fire_in_virtual_time() -> None:
    with virtual_time() as clock:
        never = asyncio.Event()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(never.wait(), 30)
        assert clock.elapsed >= 30 - 1


async def test_nesting_is_refused() -> None:
    with virtual_time(), pytest.raises(RuntimeError, match="already active"), virtual_time():
        pass


async def test_timers_from_before_keep_their_real_time() -> None:
    loop = asyncio.get_running_loop()
    earlier = loop.call_later(3600, lambda: None)
    due = earlier.when()
    with virtual_time():
        await asyncio.sleep(10)
    assert earlier.when() == due
    earlier.cancel()
