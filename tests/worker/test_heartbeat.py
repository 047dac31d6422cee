"""The visibility heartbeat never asks SQS for more than remains of its 12-hour limit (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import structlog
from hypothesis import given
from hypothesis import strategies as st

from bus.worker.heartbeat import MAX_VISIBILITY, SLACK, Heartbeat, extension
from bus.worker.sqs import EntryFailure, QueueOps


@given(st.integers(1, MAX_VISIBILITY), st.floats(0, 2 * MAX_VISIBILITY))
def test_an_extension_never_passes_the_12_hour_limit(timeout: int, held_for: float) -> None:
    seconds = extension(timeout, held_for)
    assert 0 <= seconds <= timeout
    assert held_for + seconds <= MAX_VISIBILITY - SLACK or seconds == 0


def test_a_whole_timeout_until_the_limit_comes_near() -> None:
    assert extension(30, 0) == 30
    assert extension(30, MAX_VISIBILITY - SLACK - 100) == 30
    assert extension(30, MAX_VISIBILITY - SLACK - 10.5) == 10
    assert extension(30, MAX_VISIBILITY - SLACK) == 0
    assert extension(30, MAX_VISIBILITY + 5) == 0


class RecordingOps:
    """Stands in for ``QueueOps.change_visibility_batch``: records the calls, refuses none."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], int]] = []

    async def change_visibility_batch(
        self, receipts: Sequence[str], seconds: int
    ) -> dict[str, EntryFailure]:
        self.calls.append((list(receipts), seconds))
        return {}


async def test_the_heartbeat_extends_up_to_the_limit_then_lets_go() -> None:
    ops = RecordingOps()
    heartbeat = Heartbeat(cast(QueueOps, ops), 600, structlog.get_logger("test"))
    hour = 3600.0
    heartbeat.track("young", since=11.9 * hour, limit_from=11.9 * hour)
    heartbeat.track("old", since=11.9 * hour, limit_from=0.0)
    await heartbeat.beat(now=11.9 * hour + 300)
    remaining = int(MAX_VISIBILITY - SLACK - (11.9 * hour + 300))
    assert sorted(ops.calls) == [(["old"], remaining), (["young"], 600)]
    ops.calls.clear()
    await heartbeat.beat(now=11.9 * hour + 600)  # "old" reached the limit: no more extensions
    assert ops.calls == [(["young"], 600)]
