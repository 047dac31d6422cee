"""Unit tests of the selective redrive's own control flow, on the in-memory AWS.

Copy-then-delete: nothing is deleted from the DLQ before its send returned, or that SQS did not
accept; partial failures of SendMessageBatch and DeleteMessageBatch are reported and leave the
message in the DLQ; transient failures are retried; cancelling at any await loses nothing; a
failing worker stops the others and everything held is let go; a FIFO group is never continued
after a failure, and a group SQS accepted out of order is reported.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bus import dlq
from bus.cli import dlq_output
from bus.errors import AwsError
from bus.memory import BatchEntry, entry_failure
from tests.dlq.memory import QueueView, Sqs, event, failure, number

FAST = dlq.RedriveOptions(wait_seconds=0, retry=dlq.RetryConfig(attempts=3, initial=0))


def world(count: int, *, fifo: bool = False, groups: int = 1) -> tuple[Sqs, QueueView, QueueView]:
    """A DLQ holding ``count`` messages that failed in its source queue (FIFO: in ``groups``)."""
    sqs = Sqs()
    suffix = ".fifo" if fifo else ""
    source = sqs.queue(f"orders{suffix}")
    dead = sqs.queue(f"orders-dlq{suffix}")
    for n in range(count):
        group = f"g{n % groups}" if fifo else None
        dead.put(event(n, source.name), group, **{"bus.failure": failure(source.name)})
    return sqs, dead, source


async def redrive(
    sqs: Sqs, dead: QueueView, options: dlq.RedriveOptions = FAST
) -> dlq.RedriveReport:
    return await dlq.redrive_selected(sqs.clients(), dead.url, options=options)


def failing(sqs: Sqs, fails: Callable[[int, int], dict[str, Any] | None]) -> None:
    """Fail SendMessageBatch entries as ``fails(n, attempt)`` says (attempt counts from 1)."""
    attempts: dict[int, int] = {}

    def decide(entry: BatchEntry) -> dict[str, Any] | None:
        n = number(entry.entry["MessageBody"])
        attempts[n] = attempts.get(n, 0) + 1
        return fails(n, attempts[n])

    sqs.aws.faults.fail_entries("SendMessageBatch", decide)


SERVER = entry_failure("InternalError", sender_fault=False)
SENDER = entry_failure("InvalidParameterValue")


def numbers(queue: QueueView) -> list[int]:
    return [number(b) for b in queue.bodies()]


def assert_copy_then_delete(sqs: Sqs, dead: QueueView) -> None:
    """Every message deleted from the DLQ was accepted by a send that had returned before."""
    accepted: set[str] = set()
    for operation, queue, bodies in sqs.log:
        if operation == "send returned":
            accepted |= set(bodies)
        if operation == "delete" and queue == dead.name:
            assert set(bodies) <= accepted, f"deleted before its copy was accepted: {bodies}"


# -- copy-then-delete ------------------------------------------------------------------------------


async def test_a_partial_send_failure_keeps_exactly_the_failed_entries() -> None:
    sqs, dead, source = world(25)
    failing(sqs, lambda n, attempt: SENDER if n % 4 == 0 else None)
    report = await redrive(sqs, dead)
    refused = [n for n in range(25) if n % 4 == 0]
    assert sorted(numbers(dead)) == refused
    assert sorted(numbers(source)) == [n for n in range(25) if n % 4]
    assert report.moved == 25 - len(refused)
    by_id = {m.id: number(m.body) for m in dead.messages}
    assert sorted(by_id[m] for m in report.failed) == refused
    assert all("InvalidParameterValue" in reason for reason in report.failed.values())
    assert dead.hidden() == []  # let go when the redrive ended
    assert_copy_then_delete(sqs, dead)


async def test_transient_send_failures_are_sent_again() -> None:
    sqs, dead, source = world(25)
    failing(sqs, lambda n, attempt: SERVER if n % 3 == 0 and attempt < 3 else None)
    report = await redrive(sqs, dead)
    assert (report.moved, report.failed, report.complete) == (25, {}, True)
    assert sorted(numbers(source)) == list(range(25))
    assert numbers(dead) == []
    assert_copy_then_delete(sqs, dead)


async def test_retries_give_up_and_sender_faults_are_not_retried() -> None:
    sqs, dead, _ = world(10)
    calls: list[int] = []

    def fails(n: int, attempt: int) -> dict[str, Any] | None:
        calls.append(n)
        return SERVER if n == 3 else SENDER if n == 7 else None

    failing(sqs, fails)
    report = await redrive(sqs, dead)
    assert calls.count(3) == FAST.retry.attempts
    assert calls.count(7) == 1
    assert sorted(numbers(dead)) == [3, 7]
    assert report.moved == 8
    assert len(report.failed) == 2
    assert_copy_then_delete(sqs, dead)


async def test_a_retry_that_fails_as_a_whole_keeps_what_was_sent() -> None:
    sqs, dead, source = world(10)
    failing(sqs, lambda n, attempt: SERVER if n == 3 else None)
    sends = itertools.count(1)

    async def hook(operation: str, at: str) -> None:
        if operation == "SendMessageBatch" and at == "before" and next(sends) == 2:
            error = {"Error": {"Code": "ServiceUnavailable", "Message": "try later"}}
            raise ClientError(error, "SendMessageBatch")  # type: ignore[arg-type]

    sqs.hook(hook)
    report = await redrive(sqs, dead)
    assert numbers(dead) == [3]
    assert sorted(numbers(source)) == [0, 1, 2, 4, 5, 6, 7, 8, 9]  # sent once, and deleted
    assert report.moved == 9
    assert ["ServiceUnavailable" in reason for reason in report.failed.values()] == [True]
    assert_copy_then_delete(sqs, dead)


async def test_a_failed_delete_is_reported_and_the_message_stays(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sqs, dead, source = world(12)
    five = next(m.id for m in dead.messages if number(m.body) == 5)
    sqs.aws.faults.fail_entry(
        "DeleteMessageBatch", "InternalError", message_id=five, sender_fault=False, times=None
    )
    report = await redrive(sqs, dead)
    assert report.moved == 11
    assert sorted(numbers(source)) == list(range(12))  # every copy was sent
    assert numbers(dead) == [5]  # ... and this one is in both queues now
    assert list(report.not_deleted) == [five]
    assert report.failed == {}
    assert dlq_output.redrive_report(report) == 1
    printed = capsys.readouterr().err
    assert "sent but not deleted from the DLQ" in printed
    assert "delivered twice" in printed
    assert "1 not deleted from the DLQ" in printed


async def test_cancelling_at_any_await_loses_nothing() -> None:
    """Cancel the redrive at every call it makes, before the call took effect and after (the
    answer lost on its way back): each message is then in the DLQ or at the destination, at
    most one batch in both, and nothing is left hidden in the DLQ."""
    everything = sorted(range(25))
    cancelled = 0
    for phase in ("before", "after"):
        for index in itertools.count():
            sqs, dead, source = world(25)
            paused, gate = asyncio.Event(), asyncio.Event()
            counter = itertools.count()

            async def hook(
                operation: str,
                at: str,
                index: int = index,
                phase: str = phase,
                counter: Any = counter,
                paused: asyncio.Event = paused,
                gate: asyncio.Event = gate,
            ) -> None:
                if at == phase and next(counter) == index:
                    paused.set()
                    await gate.wait()

            sqs.hook(hook)
            task = asyncio.create_task(redrive(sqs, dead, FAST))
            waiter = asyncio.create_task(paused.wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if task.done():  # no call left to cancel at
                assert task.result().moved == 25
                break
            task.cancel()
            gate.set()
            with pytest.raises(asyncio.CancelledError):
                await task
            for _ in range(20):  # the shielded release finishes
                await asyncio.sleep(0)
            cancelled += 1
            assert sorted(set(numbers(dead)) | set(numbers(source))) == everything
            assert len(set(numbers(source))) == len(numbers(source))
            assert len(set(numbers(dead)) & set(numbers(source))) <= 10
            assert dead.hidden() == [], (phase, index)
            assert_copy_then_delete(sqs, dead)
    assert cancelled >= 16  # receives, sends, deletes and releases of three batches, twice


async def test_cancelling_while_paced_loses_nothing() -> None:
    sqs, dead, source = world(25)
    first_delete = asyncio.Event()

    async def hook(operation: str, at: str) -> None:
        if operation == "DeleteMessageBatch" and at == "after":
            first_delete.set()

    sqs.hook(hook)
    task = asyncio.create_task(redrive(sqs, dead, dlq.RedriveOptions(wait_seconds=0, rate=5)))
    await first_delete.wait()
    await asyncio.sleep(0.05)  # now waiting for the pacer before the second send
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.01)
    assert len(numbers(source)) == 10
    assert sorted(numbers(dead) + numbers(source)) == list(range(25))
    assert dead.hidden() == []


# -- concurrency ----------------------------------------------------------------------------------


async def test_a_failing_worker_stops_the_others_and_everything_is_let_go() -> None:
    sqs, dead, source = world(400)
    sends = itertools.count(1)

    async def hook(operation: str, at: str) -> None:
        if operation == "SendMessageBatch" and at == "before" and next(sends) == 3:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "no"}}, "SendMessageBatch"
            )
        if at == "after":
            await asyncio.sleep(0.002)  # calls take a while: the others are mid-call

    sqs.hook(hook)
    options = dlq.RedriveOptions(concurrency=4, wait_seconds=0)
    with pytest.raises(AwsError) as info:
        await redrive(sqs, dead, options)
    assert info.value.code == "AccessDenied"
    calls = len(sqs.calls)
    moved = len(source.messages)
    await asyncio.sleep(0.1)
    assert len(sqs.calls) == calls, "the other workers went on after the error"
    assert len(source.messages) == moved < 400
    assert dead.hidden() == []  # every message the workers held was let go
    assert sorted(set(numbers(dead)) | set(numbers(source))) == list(range(400))
    assert_copy_then_delete(sqs, dead)


# -- FIFO -----------------------------------------------------------------------------------------


async def test_fifo_partial_failure_reports_the_group_out_of_order() -> None:
    """SQS accepted entries 3-5 of group g0 in the same call in which entry 2 failed: they are
    delivered (and deleted from the DLQ, as they were copied), 2 stays, and g0 is reported."""
    sqs, dead, source = world(10, fifo=True, groups=2)  # g0: 0 2 4 6 8, g1: 1 3 5 7 9
    failing(sqs, lambda n, attempt: SERVER if n == 4 else None)
    report = await redrive(sqs, dead)
    assert numbers(dead) == [4]  # not sent again: it would land behind 6 and 8
    assert [n for n in numbers(source) if n % 2 == 0] == [0, 2, 6, 8]
    assert [n for n in numbers(source) if n % 2] == [1, 3, 5, 7, 9]
    assert report.out_of_order == {"g0"}
    assert report.moved == 9
    assert list(report.failed) == [dead.messages[0].id]
    assert not report.complete
    assert_copy_then_delete(sqs, dead)


async def test_fifo_retries_a_failure_only_when_order_allows() -> None:
    sqs, dead, source = world(6, fifo=True)
    failing(sqs, lambda n, attempt: SERVER if n in (4, 5) and attempt == 1 else None)
    report = await redrive(sqs, dead)
    assert numbers(source) == [0, 1, 2, 3, 4, 5]
    assert (report.moved, report.failed, report.out_of_order) == (6, {}, set())


async def test_fifo_group_is_not_continued_after_a_failure() -> None:
    """A group whose message failed for good sends nothing more in later batches (SQS hands the
    rest of g0 out once the scan has let 8 go: held back, not sent)."""
    sqs, dead, source = world(25, fifo=True, groups=2)
    failing(sqs, lambda n, attempt: SENDER if n == 8 else None)
    report = await redrive(sqs, dead)
    g0 = [n for n in numbers(source) if n % 2 == 0]
    assert g0 == [0, 2, 4, 6]
    assert [n for n in numbers(source) if n % 2] == list(range(1, 25, 2))
    assert sorted(numbers(dead)) == list(range(8, 25, 2))
    assert report.held_back == len(range(10, 25, 2))
    assert report.out_of_order == set()
    assert_copy_then_delete(sqs, dead)


async def test_fifo_group_blocked_by_a_failure_is_counted_as_unreached() -> None:
    sqs, dead, source = world(25, fifo=True)  # one group, blocked while 9 and later are held
    failing(sqs, lambda n, attempt: SENDER if n == 9 else None)
    report = await redrive(sqs, dead)
    assert numbers(source) == list(range(9))
    assert report.unreached > 0
    assert report.scanned + report.unreached == 25
    assert not report.complete


async def test_fifo_group_is_not_continued_in_the_next_call_of_a_batch() -> None:
    """Large messages: one received batch needs two SendMessageBatch calls (1 MiB each)."""
    sqs = Sqs()
    source, dead = sqs.queue("big.fifo"), sqs.queue("big-dlq.fifo")
    for n in range(6):  # 240 KB each: four to a call
        body = event(n, source.name, pad="x" * 240_000)
        dead.put(body, "g", **{"bus.failure": failure(source.name)})
    failing(sqs, lambda n, attempt: SENDER if n == 3 else None)
    report = await redrive(sqs, dead)
    assert [len(bodies) for op, _, bodies in sqs.log if op == "send"] == [3]
    assert numbers(source) == [0, 1, 2]
    assert numbers(dead) == [3, 4, 5]
    assert report.held_back == 2
    assert report.out_of_order == set()
    assert_copy_then_delete(sqs, dead)
