"""``bus up``'s outbox (unit): the relay stops after the worker, whatever happened before; without
SQLAlchemy ``bus up`` says what to install and the traffic publishes directly."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, cast

import pytest

from bus.cli.traffic import TrafficStats
from bus.cli.up import wind_down
from bus.cli.up_outbox import INSTALL, outbox_url, start_outbox
from bus.settings import Settings


class Stops:
    def __init__(self, name: str, order: list[str], fails: bool = False) -> None:
        self.name, self.order, self.fails = name, order, fails

    async def stop(self) -> None:
        self.order.append(self.name)
        if self.fails:
            raise RuntimeError(f"{self.name} failed to stop")


async def test_the_relay_stops_after_the_worker_even_when_the_worker_fails_to() -> None:
    order: list[str] = []
    worker, relay = Stops("worker", order, fails=True), Stops("relay", order)
    with pytest.raises(RuntimeError, match="worker failed to stop"):
        await wind_down(asyncio.Event(), None, worker, relay)
    assert order == ["worker", "relay"]


async def test_without_sqlalchemy_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "bus.outbox", None)
    said: list[str] = []
    relay = await start_outbox(
        object(),
        cast(Any, None),
        Settings.from_env({}),
        tmp_path,
        TrafficStats(),
        said.append,
    )
    assert relay is not None
    await relay.stop()
    assert said == [f"sample orders are published directly; for the outbox: {INSTALL}"]
    assert not (tmp_path / "shop.db").exists()


async def test_no_traffic_no_relay(tmp_path: Path) -> None:
    no = await start_outbox(
        None, cast(Any, None), Settings.from_env({}), tmp_path, TrafficStats(), print
    )
    assert no is None


def test_the_database_is_sqlite_in_the_state_directory_unless_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("BUS_OUTBOX_URL", raising=False)
    assert outbox_url(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'shop.db'}"
    monkeypatch.setenv("BUS_OUTBOX_URL", "postgresql://db/shop")
    assert outbox_url(tmp_path) == "postgresql://db/shop"
