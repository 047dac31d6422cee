"""The visibility heartbeat: never more than remains of SQS's 12-hour limit (pure); no error ends
it; it keeps a message invisible until its delete is confirmed, and not after."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import cast

import structlog
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from bus.errors import SettingsError
from bus.worker.heartbeat import MAX_VISIBILITY, SLACK, Heartbeat, extension
from bus.worker.sqs import EntryFailure, QueueOps
from tests.worker.rig import JOURNAL, MemorySQS, consumer, index, until


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


class FlakyOps:
    """``change_visibility_batch`` that raises ``errors`` first (not only AwsErrors), then works."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def change_visibility_batch(
        self, receipts: Sequence[str], seconds: int
    ) -> dict[str, EntryFailure]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {}


async def test_the_heartbeat_survives_errors_that_are_not_aws_errors() -> None:
    ops = FlakyOps(SettingsError("credentials expired"), RuntimeError("a bug below"))
    heartbeat = Heartbeat(cast(QueueOps, ops), 1, structlog.get_logger("test"))
    heartbeat.track("r", since=time.monotonic() - 5)
    task = asyncio.create_task(heartbeat.run())
    try:
        assert await until(lambda: heartbeat.extensions >= 1 or task.done(), within=5)
        assert not task.done()
        assert ops.calls >= 3
    finally:
        task.cancel()


async def test_a_failed_extension_call_is_logged_and_the_beat_goes_on() -> None:
    ops = FlakyOps(SettingsError("credentials expired"))
    heartbeat = Heartbeat(cast(QueueOps, ops), 600, structlog.get_logger("test"))
    heartbeat.track("a", since=0.0)
    with capture_logs() as logs:
        await heartbeat.beat(now=300.0)  # raises nothing
    (failed,) = [e for e in logs if e["event"] == "visibility heartbeat failed"]
    assert (failed["code"], failed["count"]) == ("SettingsError", 1)
    assert (ops.calls, heartbeat.extensions, heartbeat.holds("a")) == (1, 0, True)
    await heartbeat.beat(now=301.0)  # tried again on the next beat
    assert (ops.calls, heartbeat.extensions) == (2, 1)


class BrokenOnce(Heartbeat):
    broken = True

    async def beat(self, now: float) -> None:
        if self.broken:
            self.broken = False
            raise RuntimeError("a bug in beat")
        await super().beat(now)


async def test_an_error_anywhere_in_a_beat_does_not_end_the_heartbeat() -> None:
    ops = FlakyOps()
    heartbeat = BrokenOnce(cast(QueueOps, ops), 1, structlog.get_logger("test"))
    heartbeat.track("r", since=time.monotonic() - 5)
    task = asyncio.create_task(heartbeat.run())
    try:
        with capture_logs() as logs:
            assert await until(lambda: heartbeat.extensions >= 1 or task.done(), within=5)
        assert not task.done()
        assert "visibility heartbeat failed; carrying on" in [e["event"] for e in logs]
    finally:
        task.cancel()


# -- through a consumer over the in-memory SQS ---------------------------------------------------------


async def test_extensions_stop_when_the_handler_finishes_and_its_delete_is_confirmed(
    sqs: MemorySQS,
) -> None:
    rig = await consumer(sqs, visibility_timeout=1)
    m = rig.put("k", "slow:0.8")
    sqs.faults.fail_entry(  # deleted on the 4th try
        "DeleteMessageBatch", "InternalError", message_id=m, sender_fault=False, times=3
    )
    rig.consumer.start()
    assert await until(lambda: ("delete", m) in JOURNAL)
    await asyncio.sleep(1.0)  # three heartbeat periods more: nothing more is extended
    await rig.stop()
    end, deleted = index(("end", "k")), index(("delete", m))
    extended = [n for n, e in enumerate(JOURNAL) if e == ("visibility", m, 1)]
    assert any(n < end for n in extended)  # while the handler ran
    assert any(end < n < deleted for n in extended)  # while its delete was being retried
    assert all(n < deleted for n in extended)  # never after the delete was confirmed
    (receipt,) = sqs.receipts(m)
    assert not rig.consumer.heartbeat.holds(receipt)
    assert rig.consumer.heartbeat.tracked == 0


async def test_a_delete_given_up_on_stops_the_extensions_and_is_counted(sqs: MemorySQS) -> None:
    rig = await consumer(sqs, visibility_timeout=1)
    m = rig.put("k")
    sqs.faults.fail_entry("DeleteMessageBatch", "ReceiptHandleIsInvalid", message_id=m)
    rig.consumer.start()
    assert await until(lambda: ("delete-refused", m) in JOURNAL)
    await rig.stop()
    assert rig.stats.undeleted == 1
    assert rig.consumer.heartbeat.tracked == 0
    assert m in sqs.ids(rig.url)  # delivered again after its visibility timeout
