"""``SyncPublisher``: the Publisher for code that is not async (Flask, Django, scripts).

It runs one event loop in a background thread, with its own AWS clients, and hands every call to
that loop; any number of threads may call it at once. Same semantics as ``Publisher``. Create one per
process (after a pre-forking server has forked) and ``close()`` it at exit, or use ``with``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine, Iterable
from types import TracebackType
from typing import Any, TypeVar

from pydantic import BaseModel

from bus.aws import AwsClients
from bus.errors import AwsError, BusError
from bus.publish.delivery import PublishRetry
from bus.publish.publisher import DEFAULT_IN_FLIGHT, Publisher, load_registry
from bus.publish.results import PublishResult
from bus.schema.registry import Registry
from bus.settings import Settings
from bus.topology.model import Topology

T = TypeVar("T")


class SyncPublisher:
    """A thread-safe, blocking facade over ``Publisher``."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        topology: Topology | None = None,
        registry: Registry | None = None,
        retry: PublishRetry | None = None,
        max_in_flight: int = DEFAULT_IN_FLIGHT,
        timeout: float = 60.0,
    ) -> None:
        self.settings = settings or Settings.from_env()
        if topology is None or registry is None:
            topology, registry = load_registry(self.settings.topology_path, self.settings.env)
        self.timeout = timeout
        self._closed = False
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
        self._publisher = Publisher(
            self._aws,
            registry,
            topology,
            self.settings.env,
            retry=retry,
            max_in_flight=max_in_flight,
        )

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise BusError("SyncPublisher is closed")
        if threading.current_thread() is self._thread:
            coro.close()
            raise BusError("SyncPublisher called from its own loop: use Publisher there")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(self.timeout)
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
        """Publish events in batches (see ``Publisher.publish_many``)."""
        return self._call(
            self._publisher.publish_many(
                list(events),
                correlation_id=correlation_id,
                causation_id=causation_id,
                traceparent=traceparent,
                check=check,
            )
        )

    def close(self) -> None:
        """Close the AWS clients and stop the background loop (idempotent)."""
        with self._close_lock:
            if self._closed:
                return
            try:
                self._call(self._aws.__aexit__(None, None, None))
            finally:
                self._closed = True
                self._stop_loop()

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
