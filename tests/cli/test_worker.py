"""``bus worker`` start-up: Ctrl-C while it imports the handlers or connects exits at once, quietly,
with code 130 (no traceback); nothing was received yet, so there is nothing to finish."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = """
name: wstart
queues:
  work: {}
events:
  Ping: {model: tests.worker.apps:Ping, publish_to: [{queue: work}]}
handlers:
  work:
    events: {Ping: "%s"}
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(tmp_path: Path, handler: str) -> tuple[subprocess.Popen[bytes], Path]:
    topology = tmp_path / "topology.yaml"
    topology.write_text(TOPOLOGY % handler)
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_closed_port()}",  # nothing listens there
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "BUS_TEST_IMPORTING": str(tmp_path / "importing"),
    }
    args = [sys.executable, "cli.py", "worker", "-t", str(topology), "--json-logs"]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=out)
    return proc, log


def _wait_until(check: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the worker never got there:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def _interrupt(proc: subprocess.Popen[bytes], log: Path) -> None:
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(10)  # at once: not after the import or the connection attempts end
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"still running after Ctrl-C:\n{log.read_text()[-3000:]}") from None
    output = log.read_text()
    assert code == 130, output
    assert "Traceback" not in output
    assert "KeyboardInterrupt" not in output


@pytest.mark.timeout(90)
def test_ctrl_c_while_importing_the_handlers(tmp_path: Path) -> None:
    proc, log = _start(tmp_path, "tests.cli.slow_import:handle")
    _wait_until((tmp_path / "importing").exists, proc, log)
    _interrupt(proc, log)


@pytest.mark.timeout(90)
def test_ctrl_c_while_connecting(tmp_path: Path) -> None:
    proc, log = _start(tmp_path, "tests.worker.apps:record")
    _wait_until(lambda: "cannot reach SQS yet" in log.read_text(), proc, log)
    _interrupt(proc, log)
