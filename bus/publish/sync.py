"""``SyncPublisher``: the Publisher for code that is not async (Flask, Django, scripts).

It runs one event loop in a background thread, with its own AWS clients, and hands every call to
that loop; any number of threads may call it at once. Same semantics as ``Publisher``:
``publish_many`` iterates ``events`` in the calling thread (thread-local state such as a Django
database connection stays usable in a generator) and streams them to the loop, so the first batches
leave while later events are still being produced, and if iterating raises, what was handed over
is still sent, then the error propagates with a note. Create one per process and ``close()`` it at
exit, or use ``with`` (one still open when the interpreter exits is closed then, ``atexit``). One
made before a fork (a pre-forking server that imports the application first: gunicorn
``--preload``, uWSGI, Celery's prefork pool) works in every child: a child's first call starts the
child's own loop, thread and AWS clients.

``timeout`` bounds how long a call waits for its answer (for a stream, once its last event was
handed over). Its default (``default_timeout``) outlasts botocore's retries of a call (every
attempt taking its ``connect_timeout`` + ``read_timeout``, and the waits between them), so in an
outage a caller gets the ``AwsError`` with AWS's code (or ``ConnectionError``), not a ``Timeout``.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
from collections.abc import AsyncIterator, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pydantic import BaseModel

from bus.aws import AwsClients
from bus.aws.clients import retries
from bus.errors import AwsError, BusError
from bus.middleware.publish import PublishMiddleware
from bus.publish.delivery import PublishRetry
from bus.publish.publisher import DEFAULT_IN_FLIGHT, Publisher, load_registry
from bus.publish.results import PublishResult
from bus.schema.registry import Registry
from bus.settings import Settings
from bus.topology.model import Topology

T = TypeVar("T")

CANCEL_WAIT = 10.0
"""How long ``close()`` waits for the calls it cancelled to end."""
FEED_AHEAD = 100
"""Events ``SyncPublisher.publish_many`` hands to the loop ahead of the pipeline taking them."""
BOTOCORE_MAX_BACKOFF = 20.0
"""botocore's standard retry mode waits at most this long between attempts."""


def default_timeout(settings: Settings) -> float:
    """Longer than botocore takes to give up on one call (every attempt timing out), at least 60 s.

    The attempts are botocore's ``total_max_attempts`` (the first included):
    ``Settings.max_attempts`` or the AWS configuration's, as the clients get them
    (``bus.aws.clients.retries``)."""
    attempts = int(retries(settings)["total_max_attempts"])
    per_attempt = settings.connect_timeout + settings.read_timeout
    waits = sum(min(BOTOCORE_MAX_BACKOFF, 2.0**n) for n in range(attempts - 1))
    return max(60.0, attempts * per_attempt + waits + 10.0)


def _declared(topology: Topology, settings: Settings) -> list[PublishMiddleware]:
    """topology.yaml's ``middleware.publish``, imported from the topology's folder."""
    from bus.middleware.load import publish_middlewares

    base = Path(settings.topology_path).resolve().parent
    return publish_middlewares(topology.middleware.publish, base)


_FORK_LOCK = threading.Lock()
"""Held while a forked child starts its own loop (made anew in every child: a lock held by
another thread at the fork would stay held there)."""


def _new_fork_lock() -> None:
    global _FORK_LOCK
    _FORK_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_new_fork_lock)


@dataclass(frozen=True)
class _Parts:
    """What a ``SyncPublisher`` builds its ``Publisher`` from (again in a forked child)."""

    registry: Registry
    topology: Topology
    retry: PublishRetry | None
    max_in_flight: int
    middleware: list[PublishMiddleware]


class SyncPublisher:
    """A thread-safe, blocking facade over ``Publisher``. Safe across ``fork``: a child process
    starts its own loop, thread and AWS clients at its first call."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        topology: Topology | None = None,
        registry: Registry | None = None,
        retry: PublishRetry | None = None,
        max_in_flight: int = DEFAULT_IN_FLIGHT,
        timeout: float | None = None,
        middleware: Sequence[PublishMiddleware] = (),
    ) -> None:
        self.settings = settings or Settings.from_env()
        if topology is None or registry is None:
            topology, registry = load_registry(self.settings.topology_path, self.settings.env)
        self.timeout = default_timeout(self.settings) if timeout is None else timeout
        self._inherited: list[tuple[asyncio.AbstractEventLoop, AwsClients]] = []
        self._parts = _Parts(
            registry,
            topology,
            retry,
            max_in_flight,
            [*middleware, *_declared(topology, self.settings)],
        )
        self._closed = False
        self._start()
        atexit.register(self.close)  # one never closed is closed at exit, not left to warnings

    def _start(self) -> None:
        """This process's loop, its thread, the AWS clients and the Publisher."""
        self._pid = os.getpid()
        self._close_lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="bus-sync-publisher", daemon=True
        )
        self._thread.start()
        self._aws = AwsClients(self.settings)
        try:
            self._call(self._aws.__aenter__())
        except BaseException:
            self._stop_loop()
            raise
        parts = self._parts
        self._publisher = Publisher(
            self._aws,
            parts.registry,
            parts.topology,
            self.settings.env,
            retry=parts.retry,
            max_in_flight=parts.max_in_flight,
            middleware=parts.middleware,
        )

    def _ready(self) -> None:
        """In a process forked after this publisher was made: start this process's own parts
        first (before a call is built of the parent's Publisher or loop)."""
        if self._pid != os.getpid():
            self._after_fork()

    def _after_fork(self) -> None:
        """In a child forked from the process that made this publisher (a pre-forking server
        that imported the application first: gunicorn ``--preload``, uWSGI, Celery's prefork
        pool): the parent's loop thread does not exist here and its connections are the
        parent's. The child gets its own loop, thread and clients at its first call; the
        parent's are left alone (closing them here could disturb the parent's connections)."""
        with _FORK_LOCK:
            if self._pid == os.getpid():
                return  # another thread of this child got here first
            self._inherited.append((self._loop, self._aws))  # never used, never closed here
            if not self._closed:
                self._start()

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        self._ready()
        if self._closed:
            coro.close()
            raise BusError("SyncPublisher is closed")
        if threading.current_thread() is self._thread:
            coro.close()
            raise BusError("SyncPublisher called from its own loop: use Publisher there")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._wait(self._submit(coro))

    def _wait(self, future: concurrent.futures.Future[T]) -> T:
        try:
            return future.result(self.timeout)
        except concurrent.futures.CancelledError:
            if self._closed:
                raise BusError("SyncPublisher was closed while publishing") from None
            raise
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise AwsError(
                f"publishing did not finish within {self.timeout:g}s; some destinations may "
                "have received the event",
                code="Timeout",
                operation="publish",
            ) from None

    def publish(
        self,
        event: BaseModel,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
    ) -> PublishResult:
        """Publish one event (see ``Publisher.publish``); blocks until AWS answered."""
        self._ready()
        return self._call(
            self._publisher.publish(
                event,
                correlation_id=correlation_id,
                causation_id=causation_id,
                traceparent=traceparent,
            )
        )

    def publish_many(
        self,
        events: Iterable[BaseModel],
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
        check: bool = False,
    ) -> list[PublishResult]:
        """Publish events in batches (see ``Publisher.publish_many``), streaming ``events``."""
        self._ready()  # the feed and the call below: this process's loop and Publisher
        if isinstance(events, list | tuple):  # nothing to run in this thread: hand it over whole
            feed: Iterable[BaseModel] | _Feed = events
        else:
            feed = _Feed(self._loop)
        future = self._submit(
            self._publisher.publish_many(
                feed,
                correlation_id=correlation_id,
                causation_id=causation_id,
                traceparent=traceparent,
                check=check,
            )
        )
        if isinstance(feed, _Feed):
            try:
                feed.fill(events, future)
            except BaseException:  # interrupted in this thread: stop the publishing too
                future.cancel()
                raise
        return self._wait(future)

    def close(self) -> None:
        """Close the AWS clients and stop the background loop (idempotent). In a forked child
        that never published, there is nothing of its own to close: the parent's are left."""
        atexit.unregister(self.close)
        if self._pid != os.getpid():
            self._closed = True
            return
        with self._close_lock:
            if self._closed:
                return
            self._closed = True  # no new calls; those under way end with a BusError, not a hang
            try:
                self._run_to_end(_cancel_other_tasks())
                self._run_to_end(self._aws.__aexit__(None, None, None))
            finally:
                self._stop_loop()

    def _run_to_end(self, coro: Coroutine[Any, Any, Any]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout)

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> SyncPublisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _cancel_other_tasks() -> None:
    """Cancel every task of the loop but this one, and wait until they have ended."""
    tasks = asyncio.all_tasks() - {asyncio.current_task()}
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=CANCEL_WAIT)


@dataclass(frozen=True)
class _End:
    """The last item of a feed: the events ran out, or iterating them raised ``error``."""

    error: Exception | None = None


class _Feed:
    """Events produced in a caller's thread, consumed in order by the loop's ``publish_many``.

    At most ``ahead`` events wait in between; the caller's thread waits for room.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, ahead: int = FEED_AHEAD) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[BaseModel | _End] = asyncio.Queue()
        self._room = threading.Semaphore(ahead)

    def fill(self, events: Iterable[BaseModel], answer: concurrent.futures.Future[Any]) -> None:
        """Hand over every event (in this thread), then the end; stop if the call already ended."""
        try:
            for event in events:
                while not self._room.acquire(timeout=0.05):
                    if answer.done():
                        return
                if answer.done():  # the call ended early (it failed, or was closed): stop
                    return
                self._hand(event)
        except Exception as exc:
            if not answer.done():
                self._hand(_End(exc))
            return
        self._hand(_End())

    def _hand(self, item: BaseModel | _End) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the publisher was closed meanwhile
            raise BusError("SyncPublisher is closed") from None

    def __aiter__(self) -> AsyncIterator[BaseModel]:
        return self._events()

    async def _events(self) -> AsyncIterator[BaseModel]:
        while True:
            item = await self._queue.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            self._room.release()
            yield item
