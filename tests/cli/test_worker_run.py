"""``bus worker`` against the emulator: a middleware declared in topology.yaml sees every message;
a queue deleted under a running worker stops it with exit code 4 and a line naming queue and code.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from bus.aws import AwsClients
from bus.publish.publisher import Publisher
from bus.schema import Registry
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.load import load_topology
from bus.topology.model import physical_name
from tests.worker.apps import Ping

pytestmark = pytest.mark.aws
ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = """
name: wmiddle
middleware:
  consume:
    - use: tests.cli.counting:Counter
      options: {{path: "{counts}", label: all}}
queues:
  work: {{visibility_timeout: 5}}
events:
  Ping: {{model: tests.worker.apps:Ping, publish_to: [{{queue: work}}]}}
handlers:
  work:
    events: {{Ping: "tests.worker.apps:record"}}
    middleware:
      - use: tests.cli.counting:Counter
        options: {{path: "{counts}", label: work}}
"""


def _worker(settings: Settings, topology: Path, env: str, log: Path) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        "AWS_ENDPOINT_URL": str(settings.endpoint_url),
        "AWS_REGION": settings.region or "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    args = [sys.executable, "cli.py", "worker", "-t", str(topology), "--env", env]
    args += ["--json-logs", "--wait-seconds", "1", "--grace", "5"]
    with log.open("wb") as out:
        return subprocess.Popen(args, cwd=ROOT, env=environ, stdout=out, stderr=out)


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def _wait(check: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the worker never got there:\n{_tail(log)}")
        await asyncio.sleep(0.1)


async def _applied(aws: AwsClients, tmp_path: Path, env: str) -> tuple[Path, Path, Publisher]:
    counts = tmp_path / "counts.txt"
    path = tmp_path / "topology.yaml"
    path.write_text(TOPOLOGY.format(counts=counts))
    topology = load_topology(path)
    await converge(aws, topology, env)
    publisher = Publisher(aws, Registry.from_topology(topology, ROOT), topology, env)
    return path, counts, publisher


@pytest.mark.timeout(120)
async def test_a_middleware_declared_in_the_topology_counts_every_message(
    aws: AwsClients, bus_settings: Settings, tmp_path: Path
) -> None:
    env = "m" + uuid.uuid4().hex[:8]
    path, counts, publisher = await _applied(aws, tmp_path, env)
    await publisher.publish_many([Ping(key=f"k{n}") for n in range(5)], check=True)
    log = tmp_path / "worker.log"
    proc = _worker(bus_settings, path, env, log)

    def lines() -> list[str]:
        return counts.read_text().splitlines() if counts.exists() else []

    await _wait(lambda: len(lines()) == 10, proc, log)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, log.read_text()[-3000:]
    assert sorted(lines()) == sorted(["all handled Ping"] * 5 + ["work handled Ping"] * 5)
    assert lines()[:2] == ["work handled Ping", "all handled Ping"]  # the queue's inside
    assert '"start-up heap frozen"' in log.read_text()  # bus worker: freeze_startup on


@pytest.mark.timeout(120)
async def test_a_queue_deleted_under_a_running_worker_stops_it_with_code_4(
    aws: AwsClients, bus_settings: Settings, tmp_path: Path
) -> None:
    env = "m" + uuid.uuid4().hex[:8]
    path, _, _ = await _applied(aws, tmp_path, env)
    log = tmp_path / "worker.log"
    proc = _worker(bus_settings, path, env, log)
    await _wait(lambda: '"consuming"' in log.read_text(), proc, log)
    url = (await aws.sqs.get_queue_url(QueueName=physical_name("work", env)))["QueueUrl"]
    await aws.sqs.delete_queue(QueueUrl=url)
    code = await asyncio.to_thread(proc.wait, 90)
    output = log.read_text()
    assert code == 4, output[-3000:]
    assert f"cannot receive from queue {physical_name('work', env)}" in output
    assert "NonExistentQueue" in output or "QueueDoesNotExist" in output
    assert "Traceback" not in output
