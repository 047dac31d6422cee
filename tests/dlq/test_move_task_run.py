"""Starting and following a message move task is one guarded unit (``dlq.MoveTaskRun``), on the
in-memory AWS: an interruption at any point once SQS may have started the task cancels it
(CancelMessageMoveTask) before the interruption goes on: while StartMessageMoveTask is on its way,
between the start and the first status, or an error while following; unless the caller keeps the
task running. And ``bus dlq redrive`` interrupted by a real SIGINT while the start is on its way
cancels the task and exits 130. (The task's own behaviour in SQS: ``test_operations.py`` and
``test_redrive_kill.py`` against LocalStack.) The tasks move one message a second (``RATE``) out
of a DLQ of three, so that each is still running when the test interrupts it.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bus import dlq
from bus.cli import app, dlq_common
from bus.errors import AwsError
from tests.dlq.memory import QueueView, Sqs

RATE = 1


def world() -> tuple[Sqs, QueueView, QueueView]:
    sqs = Sqs()
    dead, source = sqs.queue("orders-dlq"), sqs.queue("orders")
    for n in range(3):
        dead.put(f"dead letter {n}")
    return sqs, dead, source


def interrupt_at(sqs: Sqs, operation: str, phase: str, interrupt: Callable[[], None]) -> list[int]:
    """Call ``interrupt()`` the first time ``operation`` reaches ``phase``, then let the call go on
    (it takes one more turn of the loop, as a real call's answer would)."""
    hits: list[int] = []

    async def hook(op: str, at: str) -> None:
        if (op, at) == (operation, phase) and not hits:
            hits.append(1)
            interrupt()
            await asyncio.sleep(0)

    sqs.hook(hook)
    return hits


async def follow_all(run: dlq.MoveTaskRun) -> None:
    async for _ in run.follow(interval=0):
        pass


async def test_cancelled_while_the_start_is_on_its_way() -> None:
    sqs, dead, _ = world()
    main: list[asyncio.Task[Any]] = []
    hits = interrupt_at(sqs, "StartMessageMoveTask", "after", lambda: main[0].cancel())
    run = dlq.MoveTaskRun(sqs.clients(), dead.url, to="orders", rate=RATE)

    async def body() -> None:
        async with run:
            raise AssertionError("the block is never entered")

    main.append(asyncio.ensure_future(body()))
    with pytest.raises(asyncio.CancelledError):
        await main[0]
    assert hits == [1]
    (task,) = sqs.move_tasks  # SQS had started it
    assert sqs.cancelled() == [task.handle]  # and it was cancelled before the interruption went on
    assert sqs.running_tasks() == []
    assert (run.cancelled, run.cancel_failed) == (task.moved, False)
    assert run.task is not None
    assert run.task.handle == sqs.move_tasks[0].handle


async def test_start_move_task_cancelled_on_its_way_leaves_no_task_running() -> None:
    sqs, dead, _ = world()
    main: list[asyncio.Task[Any]] = []
    interrupt_at(sqs, "StartMessageMoveTask", "after", lambda: main[0].cancel())
    main.append(
        asyncio.ensure_future(dlq.start_move_task(sqs.clients(), dead.url, to="orders", rate=RATE))
    )
    with pytest.raises(asyncio.CancelledError):
        await main[0]
    assert sqs.cancelled() == [t.handle for t in sqs.move_tasks]
    assert len(sqs.move_tasks) == 1


@pytest.mark.parametrize(
    ("operation", "phase"),
    [("StartMessageMoveTask", "after"), ("ListMessageMoveTasks", "before")],
)
async def test_an_interruption_after_the_start_cancels_the_task(operation: str, phase: str) -> None:
    sqs, dead, _ = world()
    main: list[asyncio.Task[Any]] = []
    interrupt_at(sqs, operation, phase, lambda: main[0].cancel())
    run = dlq.MoveTaskRun(sqs.clients(), dead.url, to="orders", rate=RATE)

    async def body() -> None:
        async with run:
            await follow_all(run)

    main.append(asyncio.ensure_future(body()))
    with pytest.raises(asyncio.CancelledError):
        await main[0]
    assert sqs.cancelled() == [t.handle for t in sqs.move_tasks]
    assert len(sqs.move_tasks) == 1
    assert run.cancelled == sqs.move_tasks[0].moved


async def test_an_error_while_following_cancels_the_task() -> None:
    sqs, dead, _ = world()

    async def hook(operation: str, phase: str) -> None:
        if operation == "ListMessageMoveTasks":
            raise AwsError("ListMessageMoveTasks: connection reset", code="ConnectionReset")

    sqs.hook(hook)
    run = dlq.MoveTaskRun(sqs.clients(), dead.url, to="orders", rate=RATE)
    with pytest.raises(AwsError):
        async with run:
            await follow_all(run)
    assert sqs.cancelled() == [t.handle for t in sqs.move_tasks]
    assert len(sqs.move_tasks) == 1


async def test_keep_running_leaves_the_task_running() -> None:
    sqs, dead, _ = world()
    asked: list[BaseException] = []

    def keep(exc: BaseException) -> bool:
        asked.append(exc)
        return True

    run = dlq.MoveTaskRun(sqs.clients(), dead.url, to="orders", rate=RATE, keep_running=keep)
    with pytest.raises(KeyError):
        async with run:
            raise KeyError("the operator's choice")
    assert [type(e) for e in asked] == [KeyError]
    assert sqs.running_tasks() == [sqs.move_tasks[0].handle]
    assert run.cancelled is None
    assert sqs.cancelled() == []
    sqs.end_task(sqs.move_tasks[0])


async def test_a_task_that_ended_is_not_cancelled() -> None:
    sqs, dead, _ = world()
    run = dlq.MoveTaskRun(sqs.clients(), dead.url, to="orders", rate=RATE)

    async def follow_to_the_end_then_fail() -> None:
        async with run:
            sqs.end_task(sqs.move_tasks[0])
            await follow_all(run)
            raise RuntimeError("after the end")

    with pytest.raises(RuntimeError, match="after the end"):
        await follow_to_the_end_then_fail()
    assert run.last is not None
    assert run.last.done
    assert (run.cancelled, run.cancel_failed) == (None, False)  # no CancelMessageMoveTask


async def test_a_refused_cancel_is_reported_and_the_interruption_goes_on() -> None:
    sqs, dead, _ = world()
    run = dlq.MoveTaskRun(sqs.clients(), dead.url, to="orders", rate=RATE)

    async def interrupted_after_an_unseen_end() -> None:
        async with run:
            sqs.end_task(sqs.move_tasks[0])  # ended meanwhile, unseen
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await interrupted_after_an_unseen_end()
    assert (run.cancelled, run.cancel_failed) == (None, True)


def test_ctrl_c_while_the_start_is_on_its_way_cancels_the_task(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A real SIGINT, handled by ``asyncio.run`` the way it is for an operator's Ctrl-C."""
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    sqs, dead, source = world()
    monkeypatch.chdir(tmp_path)  # no topology.yaml here: none is loaded
    monkeypatch.setattr(dlq_common, "AwsClients", sqs.session)
    hits = interrupt_at(
        sqs, "StartMessageMoveTask", "after", lambda: signal.raise_signal(signal.SIGINT)
    )
    args = ["dlq", "redrive", dead.url, "--to", source.url, "--rate", str(RATE), "--yes"]
    result = CliRunner().invoke(app, args)
    assert hits == [1]
    assert result.exit_code == 130, result.output
    (task,) = sqs.move_tasks
    assert sqs.cancelled() == [task.handle]
    assert f"Move task cancelled after about {task.moved} messages" in result.stderr
    assert "Interrupted." in result.stderr
