"""How ``bus up`` runs an application's sample traffic (the traffic itself is the application's).

An application offers sample traffic as a coroutine function, named ``module:function`` by
``bus up --traffic`` (default ``handlers.traffic:traffic``, the reference application's; when that
module is absent there is no traffic)::

    async def traffic(publisher: EventPublisher, stop: asyncio.Event, rate: float) -> None:
        ...  # publish events until ``stop`` is set, about ``rate`` per second

``bus up`` hands it a publisher that counts what was published, refused (invalid, unknown) or
not taken by AWS, for its live table; errors still reach the traffic function, which decides
whether to go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bus.errors import AwsError, EventError, HandlerError
from bus.publish.publisher import EventPublisher
from bus.publish.results import PublishResult
from bus.worker.loader import import_object

DEFAULT_TRAFFIC = "handlers.traffic:traffic"

Traffic = Callable[[EventPublisher, asyncio.Event, float], Coroutine[Any, Any, None]]


@dataclass
class TrafficStats:
    published: int = 0
    refused: int = 0
    """Events the publisher refused before sending (invalid, unknown)."""
    failed: int = 0
    """Events AWS did not take."""


class CountingPublisher:
    """The publisher handed to the traffic function: ``publisher``, counting each outcome."""

    def __init__(self, publisher: EventPublisher, stats: TrafficStats) -> None:
        self._publisher = publisher
        self.stats = stats

    async def publish(
        self,
        event: BaseModel,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
    ) -> PublishResult:
        try:
            result = await self._publisher.publish(
                event,
                correlation_id=correlation_id,
                causation_id=causation_id,
                traceparent=traceparent,
            )
        except EventError:
            self.stats.refused += 1
            raise
        except AwsError:
            self.stats.failed += 1
            raise
        self.stats.published += 1
        return result

    async def publish_many(
        self,
        events: Iterable[BaseModel],
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
        check: bool = False,
    ) -> list[PublishResult]:
        results = await self._publisher.publish_many(
            events,
            correlation_id=correlation_id,
            causation_id=causation_id,
            traceparent=traceparent,
            check=check,
        )
        self.stats.published += len(results)
        return results

    def bind(
        self,
        *,
        correlation_id: str,
        causation_id: str | None = None,
        traceparent: str | None = None,
    ) -> EventPublisher:
        bound = self._publisher.bind(
            correlation_id=correlation_id, causation_id=causation_id, traceparent=traceparent
        )
        return CountingPublisher(bound, self.stats)


def load_traffic(path: str, base_dir: Path | None) -> Traffic:
    """The application's traffic function at ``path`` (``module:function``)."""
    found = import_object(path, base_dir)
    if not asyncio.iscoroutinefunction(found):
        raise HandlerError(
            f"{path}: not a coroutine function (publisher, stop, rate) publishing sample traffic"
        )
    traffic: Traffic = found
    return traffic
