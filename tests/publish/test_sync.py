"""``SyncPublisher.publish_many`` has the async version's semantics (scripted senders, no AWS).

The events are iterated in the calling thread and streamed to the publisher's loop: the first
batches leave while later events are still being produced, and when iterating raises, what was
handed over is still sent and the error propagates with a note.
"""

from __future__ import annotations

import os
import signal
import threading
import traceback
from collections.abc import Callable, Iterator

import pytest

from bus.errors import BusError, EventValidationError
from bus.publish import SyncPublisher
from bus.settings import Settings
from schemas.orders import OrderShipped
from tests.publish.scripted import REGISTRY, TOPOLOGY, ScriptedPublisher


def shipped(n: int) -> OrderShipped:
    return OrderShipped(order_id=f"o-{n}", carrier="dhl", tracking_number=f"t-{n}")


@pytest.fixture
def sync() -> Iterator[tuple[SyncPublisher, ScriptedPublisher]]:
    settings = Settings(region="us-east-1", endpoint_url="http://127.0.0.1:9")  # never called
    with SyncPublisher(settings, topology=TOPOLOGY, registry=REGISTRY, timeout=30) as publisher:
        scripted = ScriptedPublisher(journal=[])
        publisher._publisher = scripted  # the same loop and thread, scripted destinations
        yield publisher, scripted


def test_events_stream_from_the_calling_thread_while_batches_leave(
    sync: tuple[SyncPublisher, ScriptedPublisher],
) -> None:
    publisher, scripted = sync
    journal = scripted.journal
    assert journal is not None
    threads: set[int] = set()

    def events() -> Iterator[OrderShipped]:
        for n in range(60):
            threads.add(threading.get_ident())
            if n == 30:  # the first batches were sent while the rest is still to come
                for _ in range(200):
                    if "send 10" in journal:
                        break
                    threading.Event().wait(0.01)
            journal.append(f"prepare {n}")
            yield shipped(n)

    results = publisher.publish_many(events(), check=True)
    assert [r.index for r in results] == list(range(60))
    assert threads == {threading.get_ident()}  # iterated here, not on the publisher's loop
    assert journal.index("send 0") < journal.index("prepare 30")
    assert journal.index("send 10") < journal.index("prepare 30")
    assert sorted(i.index for i in scripted.senders["topic:orders"].sent) == list(range(60))


def test_when_the_events_fail_to_come_what_was_handed_over_goes_out_then_the_error(
    sync: tuple[SyncPublisher, ScriptedPublisher],
) -> None:
    publisher, scripted = sync

    def events() -> Iterator[OrderShipped]:
        for n in range(25):
            yield shipped(n)
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError, match="the source broke") as info:
        publisher.publish_many(events())
    assert "the 25 events handed over before this error were published" in str(info.value.__notes__)
    assert sorted(i.index for i in scripted.senders["topic:orders"].sent) == list(range(25))


def test_lists_and_refusals_behave_as_in_the_async_publisher(
    sync: tuple[SyncPublisher, ScriptedPublisher],
) -> None:
    publisher, _ = sync
    bad = OrderShipped.model_construct(order_id="o", carrier="", tracking_number="t")
    results = publisher.publish_many([shipped(0), bad, shipped(2)])
    assert [r.ok for r in results] == [True, False, True]
    with pytest.raises(EventValidationError, match="carrier"):
        publisher.publish_many(iter([shipped(0), bad]), check=True)
    assert publisher.publish_many(iter([])) == []


def test_closing_while_a_stream_is_under_way_ends_it_with_a_bus_error() -> None:
    settings = Settings(region="us-east-1", endpoint_url="http://127.0.0.1:9")  # never called
    publisher = SyncPublisher(settings, topology=TOPOLOGY, registry=REGISTRY, timeout=30)
    publisher._publisher = ScriptedPublisher(journal=[], delay=0.5, max_in_flight=1)
    outcome: list[BaseException | None] = []

    def stream() -> None:
        try:
            publisher.publish_many(shipped(n) for n in range(10_000))  # far more than fits ahead
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=stream)
    caller.start()
    threading.Event().wait(0.3)  # the feed is full and the first calls are under way
    publisher.close()
    caller.join(timeout=10)
    assert not caller.is_alive()  # it used to wait for room in the feed for ever
    (error,) = outcome
    assert isinstance(error, BusError)
    assert "closed" in str(error)


def _in_child(check: Callable[[], object], seconds: int = 30) -> int:
    """Fork; run ``check`` in the child (killed by an alarm after ``seconds``); its exit code:
    0 when ``check`` returned, 1 when it raised, -SIGALRM when it hung."""
    pid = os.fork()
    if pid == 0:  # the child: only this thread exists here
        signal.alarm(seconds)
        try:
            check()
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_publisher_made_before_a_fork_works_in_the_child() -> None:
    """A pre-forking server that imports the application first (gunicorn --preload, uWSGI)
    forks after ``SyncPublisher()`` ran: the child starts a loop and thread of its own at its
    first call, instead of handing the call to a thread that does not exist there (a hang until
    the timeout, then a misleading "did not finish")."""
    settings = Settings(region="us-east-1", endpoint_url="http://127.0.0.1:9")  # never called
    with SyncPublisher(settings, topology=TOPOLOGY, registry=REGISTRY, timeout=20) as publisher:
        parent_thread = publisher._thread

        async def where() -> tuple[int, str]:
            return os.getpid(), threading.current_thread().name

        def check() -> None:
            pid, thread = publisher._call(where())
            assert pid == os.getpid()
            assert thread == "bus-sync-publisher"
            assert publisher._thread is not parent_thread
            publisher._publisher = ScriptedPublisher(journal=[])  # this child's, scripted
            assert [r.ok for r in publisher.publish_many(shipped(n) for n in range(3))] == [
                True
            ] * 3
            publisher.close()

        assert _in_child(check) == 0
        # the parent's publisher is untouched by the child's
        assert publisher._thread is parent_thread
        assert parent_thread.is_alive()
        assert publisher._call(where()) == (os.getpid(), "bus-sync-publisher")


def test_a_publisher_closed_before_a_fork_stays_closed_in_the_child() -> None:
    settings = Settings(region="us-east-1", endpoint_url="http://127.0.0.1:9")
    publisher = SyncPublisher(settings, topology=TOPOLOGY, registry=REGISTRY, timeout=20)
    publisher.close()

    def check() -> None:
        with pytest.raises(BusError, match="closed"):
            publisher.publish(shipped(1))

    assert _in_child(check) == 0
