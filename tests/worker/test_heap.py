"""The worker's start-up heap (``WorkerOptions(freeze_startup=True)``, as ``bus worker`` runs):
kept out of the interpreter's full collections while the worker runs, given back when it stops."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.memory import open_harness
from bus.worker import heap

ROOT = Path(__file__).resolve().parents[2]


class _Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    gc.unfreeze()  # Python 3.12.1 starts with 375 objects frozen (3.11 and 3.13: none)
    assert gc.get_freeze_count() == 0
    yield
    heap._holders = 0  # whatever a failing test left behind
    gc.unfreeze()


def test_freezes_nest_and_the_last_thaw_gives_the_objects_back() -> None:
    assert heap.freeze() > 0
    heap.freeze()  # a second worker in the same process
    heap.thaw()
    assert gc.get_freeze_count() > 0  # the other still runs
    heap.thaw()
    assert gc.get_freeze_count() == 0
    heap.thaw()  # one too many: nothing happens
    assert gc.get_freeze_count() == 0


async def test_a_worker_freezes_its_start_up_heap_while_it_runs_and_thaws_it_at_stop() -> None:
    async with open_harness(ROOT / "topology.yaml") as shop:
        cycle = _Cycle()
        ref = weakref.ref(cycle)
        worker = shop.worker(queues=("billing",), freeze_startup=True)
        await worker.start()
        try:
            assert gc.get_freeze_count() > 0
            del cycle
            gc.collect()
            assert ref() is not None  # made before the start: frozen, out of the collector's reach
        finally:
            await worker.stop()
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert ref() is None  # thawed: collected, not leaked


async def test_a_worker_freezes_nothing_unless_asked() -> None:
    async with open_harness(ROOT / "topology.yaml") as shop:
        worker = shop.worker(queues=("billing",))
        await worker.start()
        try:
            assert gc.get_freeze_count() == 0
        finally:
            await worker.stop()
