"""A relay started while its PostgreSQL is down (both containers starting at once, say) does not
crash: its LISTEN connection and its cycles fail, are logged, and are tried again until it is
stopped. Nothing listens on the socket it is given; no AWS is called (no row is ever read)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest
from structlog.testing import capture_logs

from bus.outbox import Relay, RelayOptions
from bus.outbox.database import open_engine


@pytest.mark.timeout(30)
async def test_a_relay_started_while_postgresql_is_down_keeps_trying(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://u@/db?host={tmp_path}&port=5999"
    relay = Relay(open_engine(url), cast(Any, None), RelayOptions(listen=True, poll_interval=0.1))
    stop = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(relay.run(stop))
        await asyncio.sleep(2.5)
        assert not task.done()  # still trying
        stop.set()
        await asyncio.wait_for(task, 10)  # and stops cleanly: no exception
    await relay.close()
    events = [entry["event"] for entry in logs]
    assert events[0] == "outbox.listen_lost"
    assert events.count("outbox.database_error") >= 2  # tried again after backing off
