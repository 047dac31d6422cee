"""``bus up`` winding down (unit): the worker is stopped whatever the traffic task raised, and a
second Ctrl-C stops the LocalStack ``bus up`` started before it exits."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bus import emulator
from bus.cli.up import Started, exit_now, wind_down
from bus.worker.shutdown import install_stop_signals


class FakeWorker:
    def __init__(self) -> None:
        self.stopped = 0

    async def stop(self) -> None:
        self.stopped += 1


async def test_the_worker_is_stopped_when_the_traffic_task_fails_unexpectedly() -> None:
    async def traffic() -> None:
        raise RuntimeError("a bug in the sample events")

    stop, worker = asyncio.Event(), FakeWorker()
    sending = asyncio.create_task(traffic())
    with pytest.raises(RuntimeError, match="a bug in the sample events"):
        await wind_down(stop, sending, worker)
    assert stop.is_set()
    assert worker.stopped == 1


async def test_winding_down_stops_the_traffic_first_then_the_worker() -> None:
    order: list[str] = []
    stop = asyncio.Event()

    async def traffic() -> None:
        await stop.wait()
        order.append("traffic stopped")

    class Worker:
        async def stop(self) -> None:
            order.append("worker stopped")

    await wind_down(stop, asyncio.create_task(traffic()), Worker())
    assert order == ["traffic stopped", "worker stopped"]


def _pretend_emulator(tmp_path: Path) -> tuple[Started, subprocess.Popen[bytes]]:
    """A process standing in for the LocalStack ``bus up`` started, with its record file."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    instance = emulator.EmulatorInstance(
        pid=proc.pid, port=0, state_dir=str(tmp_path), _process=proc
    )
    record = tmp_path / "emulator.json"
    record.write_text("{}")
    return Started(instance, record), proc


def test_exiting_now_stops_the_emulator_it_started_first(tmp_path: Path) -> None:
    started, proc = _pretend_emulator(tmp_path)
    exits: list[tuple[int, int | None]] = []
    try:
        now = exit_now(started, exit_process=lambda code: exits.append((code, proc.poll())))
        now(130)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert exits == [(130, -signal.SIGTERM)]  # stopped before the exit
    assert not started.record.exists()


def test_exiting_now_exits_even_when_stopping_the_emulator_fails(tmp_path: Path) -> None:
    class Broken(Started):
        def stop(self, timeout: float = 20.0) -> None:
            raise OSError("cannot signal it")

    started, proc = _pretend_emulator(tmp_path)
    exits: list[int] = []
    try:
        with pytest.raises(OSError, match="cannot signal it"):
            exit_now(Broken(started.instance, started.record), exit_process=exits.append)(143)
    finally:
        proc.kill()
        proc.wait()
    assert exits == [143]
    exit_now(None, exit_process=exits.append)(130)  # nothing started: just the exit
    assert exits == [143, 130]


async def test_the_second_signal_goes_to_exit_now(tmp_path: Path) -> None:
    started, proc = _pretend_emulator(tmp_path)
    exits: list[int] = []
    stop = asyncio.Event()
    restore = install_stop_signals(stop, exit_now=exit_now(started, exit_process=exits.append))
    try:
        signal.raise_signal(signal.SIGINT)
        await asyncio.sleep(0.05)
        assert stop.is_set()
        assert exits == []
        assert proc.poll() is None
        signal.raise_signal(signal.SIGINT)
        await asyncio.sleep(0.05)
    finally:
        restore()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert exits == [128 + signal.SIGINT]
    assert proc.returncode == -signal.SIGTERM
