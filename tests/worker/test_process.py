"""``bus worker`` as a real process: SIGKILL loses nothing, SIGTERM finishes in-flight work without
duplicates and releases what it had not started, a second signal exits at once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import pytest_asyncio

from bus.aws import AwsClients
from bus.worker import Stats
from tests.worker import apps
from tests.worker.conftest import ROOT, Applied, apply_topology, new_env, wait_for

pytestmark = pytest.mark.aws

TOPOLOGY = """
name: wproc
queues:
  work: {visibility_timeout: 2, dead_letter: {max_receive_count: 5}}
  ordered.fifo: {fifo: true, visibility_timeout: 60}
events:
  Ping: {model: tests.worker.apps:Ping, publish_to: [{queue: work}]}
  GroupPing:
    model: tests.worker.apps:GroupPing
    publish_to: [{queue: ordered.fifo}]
    message_group_id: group
handlers:
  work:
    events: {Ping: "tests.worker.apps:record"}
  ordered.fifo:
    events: {GroupPing: "tests.worker.apps:record"}
"""


@pytest_asyncio.fixture(scope="module")
async def applied(
    module_aws: AwsClients, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Applied]:
    yield await apply_topology(module_aws, TOPOLOGY, tmp_path_factory.mktemp("proc"), new_env())


class WorkerProcess:
    """``python cli.py worker`` in a subprocess, with marker folders the test handlers write to."""

    def __init__(self, applied: Applied, folder: Path, *extra: str, block: bool = False) -> None:
        self.folder = folder
        self.started = folder / "started"
        self.started.mkdir(parents=True, exist_ok=True)
        self.record = folder / "calls.jsonl"
        self.log = folder / "worker.log"
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": str(applied.aws.settings.endpoint_url),
            "AWS_REGION": applied.aws.region,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "BUS_TEST_STARTED": str(self.started),
            "BUS_TEST_RECORD": str(self.record),
        }
        if block:
            env["BUS_TEST_BLOCK_MARKER"] = str(folder / "blocked")
        args = [sys.executable, "cli.py", "worker", "-t", str(applied.path), "--env"]
        args += [applied.env, "--wait-seconds", "1", "--json-logs", *extra]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stderr=log, stdout=log)

    def calls(self) -> list[dict[str, object]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def has_started(self, key: str) -> bool:
        return (self.started / f"{key}.started").exists()

    def send(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, within: float) -> int:
        try:
            return self.proc.wait(within)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker still running after {within}s:\n{self.log.read_text()[-3000:]}"
            ) from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@contextmanager
def worker_process(
    applied: Applied, folder: Path, *extra: str, block: bool = False
) -> Iterator[WorkerProcess]:
    process = WorkerProcess(applied, folder, *extra, block=block)
    try:
        yield process
    finally:
        process.kill()


async def test_sigkill_mid_handler_loses_nothing(applied: Applied, tmp_path: Path) -> None:
    k = "kill-" + uuid.uuid4().hex[:8]
    with worker_process(applied, tmp_path, block=True) as worker:
        await applied.publisher().publish(apps.Ping(key=k, behaviour="block"))
        await wait_for(lambda: (tmp_path / "blocked").exists(), within=30)
        worker.send(signal.SIGKILL)
        assert worker.wait(10) == -signal.SIGKILL
    assert worker.calls() == []
    stats = Stats()
    async with applied.running(stats):  # this worker's "block" does not block: no marker
        await wait_for(lambda: len(apps.calls(k)) == 1, within=20)
    (call,) = apps.calls(k)
    assert call.attempt == 2  # delivered again once the killed worker's visibility ran out
    assert await applied.depth("work") == 0


async def test_sigterm_lets_in_flight_work_finish_without_duplicates(
    applied: Applied, tmp_path: Path
) -> None:
    k = "term-" + uuid.uuid4().hex[:8]
    with worker_process(applied, tmp_path) as worker:
        await applied.publisher().publish(apps.Ping(key=k, behaviour="slow:3"))
        await wait_for(lambda: worker.has_started(k), within=30)
        begun = time.monotonic()
        worker.send(signal.SIGTERM)
        assert worker.wait(20) == 0
        assert time.monotonic() - begun >= 2  # it waited for the handler
    assert [c["key"] for c in worker.calls()] == [k]
    assert await applied.depth("work") == 0  # deleted: it cannot come back


async def test_sigterm_releases_received_but_unstarted_messages_at_once(
    applied: Applied, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    group = f"g-{run}"
    events = [
        apps.GroupPing(key=f"{run}-0", behaviour="slow:2", group=group),
        apps.GroupPing(key=f"{run}-1", group=group),
        apps.GroupPing(key=f"{run}-2", group=group),
    ]
    await applied.publisher().publish_many(events, check=True)
    with worker_process(applied, tmp_path) as worker:
        await wait_for(lambda: worker.has_started(f"{run}-0"), within=30)
        worker.send(signal.SIGTERM)
        assert worker.wait(20) == 0
    assert [c["key"] for c in worker.calls()] == [f"{run}-0"]
    # The queue's visibility timeout is 60 s: these are back only because they were released.
    left = await applied.drain("ordered.fifo", wait=2)
    assert [json.loads(m["Body"])["data"]["key"] for m in left] == [f"{run}-1", f"{run}-2"]
    # Released once (2); or 3 when the worker's last long poll, still under way, got them back and
    # released them again at once (they are released while the first one still runs, and
    # LocalStack, unlike SQS, hands a FIFO group out while its first message is in flight).
    assert all(m["Attributes"]["ApproximateReceiveCount"] in ("2", "3") for m in left)


async def test_second_signal_exits_at_once_and_loses_nothing(
    applied: Applied, tmp_path: Path
) -> None:
    k = "twice-" + uuid.uuid4().hex[:8]
    with worker_process(applied, tmp_path, "--grace", "60", block=True) as worker:
        await applied.publisher().publish(apps.Ping(key=k, behaviour="block"))
        await wait_for(lambda: (tmp_path / "blocked").exists(), within=30)
        worker.send(signal.SIGTERM)
        await asyncio.sleep(0.5)
        assert worker.proc.poll() is None  # still waiting for the blocked handler
        worker.send(signal.SIGTERM)
        assert worker.wait(5) == 128 + signal.SIGTERM
    async with applied.running():
        await wait_for(lambda: len(apps.calls(k)) == 1, within=20)
    assert await applied.depth("work") == 0
