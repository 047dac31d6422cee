"""Batched deletes (``Acker``) over a scripted ``delete_batch``: per-entry retries, sender faults,
whole calls that fail (for any reason), giving up, and the ``settled`` callback."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import structlog
from structlog.testing import capture_logs

from bus.errors import AwsError, SettingsError
from bus.worker.acker import Acker
from bus.worker.sqs import EntryFailure, QueueOps

Answer = Mapping[str, EntryFailure] | BaseException


class ScriptedOps:
    """``delete_batch`` answering from a script, one answer per call (then: all deleted)."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.calls: list[list[str]] = []

    async def delete_batch(self, receipts: Sequence[str]) -> Mapping[str, EntryFailure]:
        self.calls.append(list(receipts))
        answer = self.answers.pop(0) if self.answers else {}
        if isinstance(answer, BaseException):
            raise answer
        return {r: f for r, f in answer.items() if r in receipts}


def acker(ops: ScriptedOps, settled: list[tuple[str, bool]], attempts: int = 3) -> Acker:
    return Acker(
        cast(QueueOps, ops),
        structlog.get_logger("test"),
        linger=0.001,
        attempts=attempts,
        settled=lambda receipt, deleted: settled.append((receipt, deleted)),
    )


SERVICE = EntryFailure("InternalError", sender_fault=False)
SENDER = EntryFailure("ReceiptHandleIsInvalid", sender_fault=True)


async def test_failed_entries_are_retried_alone_and_sender_faults_never() -> None:
    ops = ScriptedOps({"a": SERVICE, "b": SENDER})
    settled: list[tuple[str, bool]] = []
    deletes = acker(ops, settled)
    for receipt in "abc":
        deletes.delete(receipt)
    await deletes.drain()
    assert ops.calls == [["a", "b", "c"], ["a"]]
    assert (deletes.deleted, deletes.undeleted) == (2, 1)
    assert sorted(settled) == [("a", True), ("b", False), ("c", True)]


async def test_a_call_that_fails_for_any_reason_is_retried() -> None:
    ops = ScriptedOps(
        AwsError("throttled", code="ThrottlingException"),
        SettingsError("credentials expired"),  # not an AwsError: must not kill the send
        RuntimeError("a bug somewhere below"),
    )
    settled: list[tuple[str, bool]] = []
    deletes = acker(ops, settled, attempts=4)
    with capture_logs() as logs:
        deletes.delete("a")
        await deletes.drain()
    assert ops.calls == [["a"]] * 4
    assert (deletes.deleted, deletes.undeleted) == (1, 0)
    assert settled == [("a", True)]
    codes = [e["code"] for e in logs if e["event"] == "delete batch failed; retrying"]
    assert codes == ["ThrottlingException", "SettingsError", "RuntimeError"]


async def test_a_batch_given_up_on_is_counted_and_logged_never_dropped() -> None:
    ops = ScriptedOps(*[RuntimeError("down")] * 5)
    settled: list[tuple[str, bool]] = []
    deletes = acker(ops, settled, attempts=2)
    log = structlog.get_logger("test").bind(message_id="m-1", event_type="Ping")
    with capture_logs() as logs:
        deletes.delete("a", log)
        deletes.delete("b")
        await deletes.drain()
    assert len(ops.calls) == 2
    assert (deletes.deleted, deletes.undeleted) == (0, 2)
    assert sorted(settled) == [("a", False), ("b", False)]
    gave_up = [e for e in logs if e["event"].startswith("delete failed")]
    assert len(gave_up) == 2
    assert {"message_id": "m-1", "event_type": "Ping"}.items() <= gave_up[0].items()


async def test_nothing_is_settled_before_its_answer() -> None:
    ops = ScriptedOps()
    settled: list[tuple[str, bool]] = []
    deletes = acker(ops, settled)
    deletes.delete("a")
    assert settled == []  # queued, not yet sent: the heartbeat must go on extending it
    assert deletes.outstanding == 1
    await deletes.drain()
    assert settled == [("a", True)]
    assert deletes.outstanding == 0


async def test_a_full_batch_leaves_without_waiting_for_the_linger() -> None:
    ops = ScriptedOps()
    deletes = Acker(cast(QueueOps, ops), structlog.get_logger("test"), linger=3600)
    for n in range(10):
        deletes.delete(f"r{n}")
    await deletes.drain()
    assert ops.calls == [[f"r{n}" for n in range(10)]]
