"""The loop watchdog: a blocked event loop is reported once per stretch, with the blocking line,
and again when it runs; an idle or awaiting loop is not; the thread ends with ``stop()``; a
virtual clock's leaps are no blocks; a worker's warning names its handler, the message it handles
and what is in flight. Several watchdogs (workers) on one loop share one watch: a stretch is
reported once, combining their handlers, counts and observers."""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import threading
import time
import weakref
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from bus.memory import open_harness, virtual_time
from bus.worker import Stats
from bus.worker.watchdog import LoopWatchdog, code_of, is_application
from tests.worker import blocking
from tests.worker.apps import Ping

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve()
BLOCKED = "event loop blocked"
UNBLOCKED = "event loop unblocked"

Logs = list[MutableMapping[str, Any]]


def events(logs: Logs, start: str) -> Logs:
    return [e for e in logs if str(e["event"]).startswith(start)]


def watchdog_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "bus loop watchdog"]


@contextmanager
def watching(blocked_after: float | None = 0.1) -> Iterator[tuple[LoopWatchdog, Logs]]:
    with capture_logs() as logs:
        dog = LoopWatchdog(blocked_after, structlog.get_logger("bus.worker"))
        dog.start()
        try:
            yield dog, logs
        finally:
            dog.stop()


def here(frame: Any) -> str:
    """``file:line`` of the line after ``frame``'s current one, as the watchdog shortens it."""
    where = Path(frame.f_code.co_filename)
    with suppress(ValueError):
        where = where.relative_to(Path.cwd())
    return f"{where}:{frame.f_lineno + 1}"


async def test_a_blocked_loop_is_reported_once_with_the_blocking_line_then_unblocked() -> None:
    with watching(0.2) as (dog, logs):
        await asyncio.sleep(0.25)
        expected = here(inspect.currentframe())
        time.sleep(0.6)  # noqa: ASYNC251 - blocks the loop on purpose
        await asyncio.sleep(0.25)  # a few ticks: the unblocked line
    (warning,) = events(logs, BLOCKED)
    assert warning["log_level"] == "warning"
    function = inspect.currentframe().f_code.co_name  # type: ignore[union-attr]
    assert warning["where"] == f"{expected} in {function}"
    assert warning["line"].startswith("time.sleep(0.6)")
    assert "innermost" not in warning  # time.sleep is C: this line is the innermost frame too
    assert warning["frames"][0] == warning["where"]
    assert warning["blocked_seconds"] >= 0.2  # rounded to the millisecond
    assert "asyncio.to_thread" in warning["hint"]
    (unblocked,) = events(logs, UNBLOCKED)
    assert 0.55 <= unblocked["blocked_seconds"] < 5  # to within a tick (blocked_after / 4)
    assert logs.index(warning) < logs.index(unblocked)
    assert dog.warnings == 1


async def test_library_frames_are_named_beside_the_application_line_that_called_them() -> None:
    with watching(0.2) as (_, logs):
        expected = here(inspect.currentframe())
        threading.Event().wait(0.6)  # blocks inside threading.py
    (warning,) = events(logs, BLOCKED)
    assert warning["where"].startswith(expected + " in ")
    assert warning["line"] == "threading.Event().wait(0.6)  # blocks inside threading.py"
    assert warning["innermost"].endswith(" in wait")
    assert "threading.py" in warning["innermost"]
    assert warning["innermost_line"]
    assert 2 <= len(warning["frames"]) <= 6


async def test_each_blocked_stretch_is_reported_once() -> None:
    with watching(0.2) as (dog, logs):
        for _ in range(2):
            time.sleep(0.6)  # noqa: ASYNC251 - blocks the loop on purpose
            await asyncio.sleep(0.25)
    assert len(events(logs, BLOCKED)) == 2
    assert len(events(logs, UNBLOCKED)) == 2
    assert dog.warnings == 2


async def test_a_loop_that_only_awaits_is_never_reported() -> None:
    with watching(0.3) as (_, logs):
        await asyncio.sleep(0.8)
        await asyncio.gather(*(asyncio.sleep(0.01 * n) for n in range(20)))
    assert logs == []


async def test_blocks_shorter_than_the_threshold_are_never_reported() -> None:
    """The loop counts as blocked once a tick is late by the threshold: a shorter block, wherever
    it starts between two ticks, is not."""
    with watching(0.4) as (_, logs):
        for _ in range(4):
            time.sleep(0.2)  # noqa: ASYNC251 - blocks the loop on purpose
            await asyncio.sleep(0.07)
    assert logs == []


async def test_a_virtual_clock_s_leaps_are_not_blocks() -> None:
    """Under ``virtual_time`` an hour passes at once: the watchdog counts real time, and still sees
    a real block."""
    with virtual_time() as clock, watching(0.3) as (_, logs):
        await asyncio.sleep(3600)
        assert clock.elapsed >= 3599
        assert logs == []
        expected = here(inspect.currentframe())
        time.sleep(0.7)  # noqa: ASYNC251 - blocks the loop on purpose
        await asyncio.sleep(1)
    (warning,) = events(logs, BLOCKED)
    assert warning["where"].startswith(expected + " in ")
    assert len(events(logs, UNBLOCKED)) == 1


async def test_stop_ends_the_thread() -> None:
    before = set(watchdog_threads())
    with watching(0.1) as (dog, _):
        (thread,) = set(watchdog_threads()) - before
        assert thread.daemon  # never keeps the process alive
        assert dog.running
    assert not thread.is_alive()
    assert not dog.running


async def test_stop_reports_a_stretch_still_open_as_unblocked() -> None:
    with watching(0.2) as (dog, logs):
        time.sleep(0.5)  # noqa: ASYNC251 - blocks the loop on purpose
        dog.stop()  # the loop runs again: no tick came yet
    assert len(events(logs, BLOCKED)) == 1
    assert len(events(logs, UNBLOCKED)) == 1


@pytest.mark.parametrize("off", [None, 0, 0.0])
async def test_off_starts_no_thread_and_reports_nothing(off: float | None) -> None:
    before = set(watchdog_threads())
    with watching(off) as (dog, logs):
        assert not dog.enabled
        assert not dog.running
        assert set(watchdog_threads()) == before
        time.sleep(0.2)  # noqa: ASYNC251 - blocks the loop on purpose
    assert logs == []


def test_a_negative_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="blocked_after: seconds >= 0"):
        LoopWatchdog(-1, structlog.get_logger())


class Instance:
    async def __call__(self, event: Ping) -> None:
        pass


def test_code_of_sees_through_wrappers_methods_and_callable_instances() -> None:
    @functools.wraps(blocking.nap)
    async def wrapper(event: Ping) -> None:
        await blocking.nap(event)

    assert code_of(blocking.nap) is blocking.nap.__code__
    assert code_of(wrapper) is blocking.nap.__code__
    assert code_of(Instance()) is Instance.__call__.__code__
    assert code_of(Instance().__call__) is Instance.__call__.__code__
    assert code_of(print) is None


def test_application_code_is_what_is_not_the_standard_library_site_packages_or_bus() -> None:
    assert is_application(__file__)
    assert not is_application(asyncio.__file__)
    assert not is_application(structlog.__file__)
    assert not is_application(inspect.getfile(LoopWatchdog))
    assert not is_application("<frozen importlib._bootstrap>")


TOPOLOGY = blocking.topology("wwatch")


@pytest.mark.parametrize(
    ("text", "queue"), [(TOPOLOGY, "naps"), (blocking.fifo_topology("wwatchf"), "naps.fifo")]
)
async def test_a_worker_names_the_handler_that_blocks_its_loop(
    tmp_path: Path, text: str, queue: str
) -> None:
    """On the harness (its loop on a virtual clock): the warning names the handler's file and
    line, the handler, the message it handles, and the messages in flight. On a FIFO queue too,
    where a lane runs each message's pipeline in a task of its own (the log context's), named
    after the message as a standard queue's task is."""
    path = tmp_path / "topology.yaml"
    path.write_text(text)
    async with open_harness(path, base_dir=ROOT) as harness:
        sent = await harness.publish(Ping(key="nap"))
        stats = await harness.run_until_idle(blocked_after=0.2)
    assert stats.queue(queue).processed == 1
    (warning,) = events(harness.logs, BLOCKED)
    assert (warning["message_id"],) == sent.message_ids
    file = Path(blocking.__file__).relative_to(ROOT)  # pytest runs from the root
    assert warning["where"] == f"{file}:{blocking.nap_line()} in nap"
    assert warning["line"].startswith("time.sleep(NAP)")
    assert warning["handler"] == "tests.worker.blocking:nap"
    assert warning["in_flight"] == {queue: 1}
    (unblocked,) = events(harness.logs, UNBLOCKED)
    assert unblocked["blocked_seconds"] >= blocking.NAP - 0.05  # to within a tick


async def test_a_task_that_handles_no_message_is_not_named_as_one() -> None:
    with watching() as (_, logs):
        await asyncio.sleep(0)  # the watchdog's tick is set
        time.sleep(0.4)  # noqa: ASYNC251 - blocks the loop, in the test's own task (no message's)
        await asyncio.sleep(0.3)
    (warning,) = events(logs, BLOCKED)
    assert "message_id" not in warning


async def test_a_worker_started_without_a_threshold_has_no_watchdog(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(TOPOLOGY)
    before = set(watchdog_threads())
    async with open_harness(path, base_dir=ROOT) as harness:
        await harness.publish(Ping(key="nap"))
        worker = harness.worker(blocked_after=None)
        await worker.start()
        try:
            assert set(watchdog_threads()) == before
        finally:
            await worker.stop()
    assert events(harness.logs, BLOCKED) == []


async def test_a_worker_s_watchdog_runs_from_start_to_stop(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(TOPOLOGY)
    async with open_harness(path, base_dir=ROOT) as harness:
        worker = harness.worker()
        assert worker.options.blocked_after == 1.0  # on by default
        assert not worker.watchdog.running
        await worker.start()
        assert worker.watchdog.running
        await worker.stop()
        assert not worker.watchdog.running


class Observer:
    def __init__(self, *, fail: bool = False) -> None:
        self.stretches: list[float] = []
        self.fail = fail

    def loop_blocked(self, seconds: float) -> None:
        self.stretches.append(seconds)
        if self.fail:
            raise RuntimeError("observer broke")


async def test_observers_hear_of_each_stretch_when_the_loop_runs_again() -> None:
    """On the loop, once per stretch, with its length; an observer that fails is logged and the
    others, and the next stretches, are still told."""
    broken, told = Observer(fail=True), Observer()
    with capture_logs() as logs:
        dog = LoopWatchdog(0.1, structlog.get_logger("bus.worker"), observers=[broken, told])
        dog.start()
        try:
            for _ in range(2):
                time.sleep(0.4)  # noqa: ASYNC251 - blocks the loop on purpose
                await asyncio.sleep(0.1)
        finally:
            dog.stop()
    assert len(told.stretches) == len(broken.stretches) == 2
    assert all(0.35 <= s < 5 for s in told.stretches)
    assert len([e for e in logs if e["event"] == "a loop observer failed"]) == 2


async def test_a_worker_tells_its_consume_middlewares_that_observe_the_loop(
    tmp_path: Path,
) -> None:
    """``Worker(middleware=[...])`` members with ``loop_blocked`` (as ``Metrics`` has) hear of a
    handler's block; a plain middleware function is not asked."""
    told = Observer()

    async def plain(delivery: Any, call_next: Any) -> None:
        await call_next(delivery)

    async def observing(delivery: Any, call_next: Any) -> None:
        await call_next(delivery)

    observing.loop_blocked = told.loop_blocked  # type: ignore[attr-defined]
    path = tmp_path / "topology.yaml"
    path.write_text(TOPOLOGY)
    async with open_harness(path, base_dir=ROOT) as harness:
        await harness.publish(Ping(key="nap"))
        await harness.run_until_idle(blocked_after=0.2, middleware=[plain, observing, observing])
    assert len(told.stretches) == 1  # once, though the middleware is given twice
    assert told.stretches[0] >= blocking.NAP - 0.05


# -- several watchdogs on one loop (several workers): one watch, each stretch reported once -------


@contextmanager
def started(*dogs: LoopWatchdog) -> Iterator[None]:
    """``dogs`` started in order on the running loop, stopped in the same order."""
    try:
        for dog in dogs:
            dog.start()
        yield
    finally:
        for dog in dogs:
            dog.stop()


async def test_two_watchdogs_on_one_loop_share_one_thread_and_report_a_stretch_once() -> None:
    before = set(watchdog_threads())
    log = structlog.get_logger("bus.worker")
    first, second = LoopWatchdog(0.2, log), LoopWatchdog(0.2, log)
    with capture_logs() as logs, started(first, second):
        assert len(set(watchdog_threads()) - before) == 1
        time.sleep(0.6)  # noqa: ASYNC251 - blocks the loop on purpose
        await asyncio.sleep(0.25)
    assert len(events(logs, BLOCKED)) == 1
    assert len(events(logs, UNBLOCKED)) == 1
    assert first.warnings == second.warnings == 1  # the stretch each watched
    assert set(watchdog_threads()) == before


async def test_the_warning_combines_the_watchdogs_handlers_and_in_flight_counts() -> None:
    """The handler is found among every watchdog's (here the second's), and the warning and its
    end go to that watchdog's logger; in flight: each ``Stats`` once, a queue name in two
    summed."""
    log = structlog.get_logger("bus.worker")
    one, two = Stats(), Stats()
    one.queue("naps").in_flight, one.queue("pings").in_flight = 1, 2
    two.queue("naps").in_flight = 2
    first = LoopWatchdog(
        0.2, log.bind(worker="first"), handlers={code_of(Instance()): "apps:instance"}, stats=one
    )
    second = LoopWatchdog(
        0.2, log.bind(worker="second"), handlers={code_of(blocking.nap): "naps:nap"}, stats=two
    )
    third = LoopWatchdog(0.2, log.bind(worker="third"), stats=two)  # shares the second's Stats
    with capture_logs() as logs, started(first, second, third):
        await blocking.nap(Ping(key="nap"))
        await asyncio.sleep(0.25)
    (warning,) = events(logs, BLOCKED)
    assert warning["handler"] == "naps:nap"
    assert warning["worker"] == "second"
    assert warning["line"].startswith("time.sleep(NAP)")
    assert warning["in_flight"] == {"naps": 3, "pings": 2}
    (unblocked,) = events(logs, UNBLOCKED)
    assert unblocked["worker"] == "second"


async def test_without_a_handler_on_the_stack_the_first_watchdog_s_logger_warns() -> None:
    log = structlog.get_logger("bus.worker")
    dogs = [LoopWatchdog(0.2, log.bind(worker=name)) for name in ("first", "second")]
    with capture_logs() as logs, started(*dogs):
        time.sleep(0.5)  # noqa: ASYNC251 - blocks the loop on purpose
        await asyncio.sleep(0.25)
    (warning,) = events(logs, BLOCKED)
    assert warning["worker"] == "first"
    assert "handler" not in warning


async def test_each_observer_object_hears_of_a_stretch_once() -> None:
    shared, mine, yours = Observer(), Observer(), Observer()
    log = structlog.get_logger("bus.worker")
    first = LoopWatchdog(0.2, log, observers=[shared, mine])
    second = LoopWatchdog(0.2, log, observers=[yours, shared])
    with capture_logs(), started(first, second):
        time.sleep(0.5)  # noqa: ASYNC251 - blocks the loop on purpose
        await asyncio.sleep(0.25)
    assert len(shared.stretches) == len(mine.stretches) == len(yours.stretches) == 1


async def test_the_smallest_threshold_of_the_watchdogs_watching_counts() -> None:
    """A stretch over the eager one's threshold is reported (and counted by the patient one too);
    once the eager one stops, the patient one's threshold counts again."""
    log = structlog.get_logger("bus.worker")
    patient, eager = LoopWatchdog(5.0, log), LoopWatchdog(0.2, log)
    with capture_logs() as logs, started(patient):
        with started(eager):
            time.sleep(0.5)  # noqa: ASYNC251 - blocks the loop on purpose
            await asyncio.sleep(0.25)
        assert len(events(logs, BLOCKED)) == 1
        assert patient.warnings == eager.warnings == 1
        time.sleep(0.5)  # noqa: ASYNC251 - blocks the loop on purpose
        await asyncio.sleep(0.3)
    assert len(events(logs, BLOCKED)) == 1
    assert patient.warnings == 1


async def test_stopping_one_watchdog_leaves_the_other_watching() -> None:
    """The first to start started the thread; when it stops, the other keeps it, and a later
    block is still reported; the thread ends with the last."""
    before = set(watchdog_threads())
    log = structlog.get_logger("bus.worker")
    told = Observer()
    first, second = LoopWatchdog(0.2, log, observers=[told]), LoopWatchdog(0.2, log)
    with capture_logs() as logs, started(first, second):
        (thread,) = set(watchdog_threads()) - before
        first.stop()
        assert not first.running
        assert second.running
        assert thread.is_alive()
        time.sleep(0.5)  # noqa: ASYNC251 - blocks the loop on purpose
        await asyncio.sleep(0.25)
        assert len(events(logs, BLOCKED)) == 1
        assert len(events(logs, UNBLOCKED)) == 1
    assert (first.warnings, second.warnings) == (0, 1)
    assert told.stretches == []  # the first one's observer left with it
    assert not thread.is_alive()
    assert set(watchdog_threads()) == before


def test_each_loop_has_its_own_watch_and_a_closed_loop_is_not_kept_alive() -> None:
    """Loops in two threads, each blocked once: two threads watch, each loop's stretch is reported
    once. Their watchdogs are never stopped: a closed loop is let go, and its watch's thread ends."""
    before = set(watchdog_threads())
    all_started = threading.Barrier(3, timeout=10)
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def watch_and_block() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        LoopWatchdog(0.1, structlog.get_logger("bus.worker")).start()
        all_started.wait()  # blocks this thread's loop, as the sleep after it does
        time.sleep(0.3)  # noqa: ASYNC251 - blocks this thread's loop on purpose
        await asyncio.sleep(0.1)

    with capture_logs() as logs:
        threads = [threading.Thread(target=asyncio.run, args=(watch_and_block(),)) for _ in "ab"]
        for thread in threads:
            thread.start()
        all_started.wait()
        watches = set(watchdog_threads()) - before
        assert len(watches) == 2
        for thread in threads:
            thread.join(10)
    assert len(events(logs, BLOCKED)) == len(events(logs, UNBLOCKED)) == 2
    deadline = time.monotonic() + 5  # the watch's thread may hold a loop for a moment
    while any(ref() is not None for ref in loops) and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.01)
    assert [ref() for ref in loops] == [None, None]
    for watch in watches:
        watch.join(5)
        assert not watch.is_alive()


async def test_two_workers_on_one_loop_report_a_block_once_naming_the_second_s_handler(
    tmp_path: Path,
) -> None:
    """Two workers on one loop (one per queue), each telling the same observing middleware: the
    second's handler blocks; one warning names it, one line ends it, the observer hears once."""
    told = Observer()

    async def observing(delivery: Any, call_next: Any) -> None:
        await call_next(delivery)

    observing.loop_blocked = told.loop_blocked  # type: ignore[attr-defined]
    path = tmp_path / "topology.yaml"
    path.write_text(blocking.pair_topology("wwatchpair"))
    async with open_harness(path, base_dir=ROOT) as harness:
        sent = await harness.publish(Ping(key="nap"))
        pings, naps = (
            harness.worker(queues=(queue,), blocked_after=0.2, middleware=[observing])
            for queue in ("pings", "naps")
        )
        await blocking.run_together([pings, naps], lambda: naps.stats.queue("naps").processed > 0)
    (warning,) = events(harness.logs, BLOCKED)
    assert warning["handler"] == "tests.worker.blocking:nap"
    assert (warning["message_id"],) == sent.message_ids
    assert warning["in_flight"] == {"naps": 1}
    assert len(events(harness.logs, UNBLOCKED)) == 1
    assert len(told.stretches) == 1
    assert pings.watchdog.warnings == naps.watchdog.warnings == 1
