"""``bus up``'s sample traffic comes from the application (``--traffic module:function``): the
reference application's ``handlers.traffic:traffic``, run with a publisher that counts outcomes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from bus.cli.traffic import DEFAULT_TRAFFIC, CountingPublisher, TrafficStats, load_traffic
from bus.errors import AwsError, EventError, HandlerError
from bus.publish.results import PublishResult
from schemas.orders import LedgerEntry, OrderPlaced

ROOT = Path(__file__).resolve().parents[2]


class Recording:
    """bus's own control flow only: a publisher that records events, refusing or failing some."""

    def __init__(self, refuse_every: int = 0, fail_every: int = 0) -> None:
        self.events: list[BaseModel] = []
        self.refuse_every, self.fail_every = refuse_every, fail_every
        self.stop_after: tuple[int, asyncio.Event] | None = None

    async def publish(self, event: BaseModel, **_: Any) -> PublishResult:
        self.events.append(event)
        n = len(self.events)
        if self.stop_after is not None and n >= self.stop_after[0]:
            self.stop_after[1].set()
        if self.refuse_every and n % self.refuse_every == 0:
            raise EventError(f"refused #{n}")
        if self.fail_every and n % self.fail_every == 0:
            raise AwsError(f"failed #{n}", code="Throttling")
        return PublishResult(index=0, event_type=type(event).__name__, event_id=f"e-{n}")

    async def publish_many(self, events: Any, **_: Any) -> list[PublishResult]:
        return [await self.publish(e) for e in events]

    def bind(self, **_: Any) -> Recording:
        return self


def test_the_library_holds_no_sample_traffic() -> None:
    assert not (ROOT / "bus" / "worker" / "traffic.py").exists()
    assert DEFAULT_TRAFFIC == "handlers.traffic:traffic"


async def test_the_reference_traffic_publishes_until_stopped_and_goes_on_after_errors() -> None:
    traffic = load_traffic(DEFAULT_TRAFFIC, ROOT)
    inner = Recording(refuse_every=7, fail_every=11)
    stats = TrafficStats()
    stop = asyncio.Event()
    inner.stop_after = (60, stop)
    await asyncio.wait_for(traffic(CountingPublisher(inner, stats), stop, 2000.0), 10)
    sent = len(inner.events)
    assert sent == 60
    assert stats.refused == sent // 7
    assert stats.failed == len([n for n in range(1, sent + 1) if n % 11 == 0 and n % 7 != 0])
    assert stats.published == sent - stats.refused - stats.failed
    kinds = {type(e) for e in inner.events}
    assert kinds == {OrderPlaced, LedgerEntry}


async def test_the_counting_publisher_reraises_what_it_counts() -> None:
    stats = TrafficStats()
    counting = CountingPublisher(Recording(refuse_every=1), stats)
    with pytest.raises(EventError):
        await counting.publish(LedgerEntry(account_id="a", sequence=0, amount_cents=1))
    assert (stats.published, stats.refused, stats.failed) == (0, 1, 0)


def test_a_traffic_that_is_not_a_coroutine_function_is_refused() -> None:
    with pytest.raises(HandlerError, match="not a coroutine function"):
        load_traffic("handlers.traffic:sample_events", ROOT)
    with pytest.raises(HandlerError, match="cannot import"):
        load_traffic("handlers.nothing_here:traffic", ROOT)
