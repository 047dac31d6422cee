"""``bus worker --blocked-after``: the loop watchdog is on by default (1 s), 0 turns it off, and
against the emulator a handler that blocks the loop is named, file and line, in the log, and the
stretch is a point of ``bus_worker_loop_blocked_seconds`` on the Prometheus endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bus.aws import AwsClients
from bus.cli import app
from bus.publish.publisher import Publisher
from bus.schema import Registry
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.load import load_topology
from bus.worker import Worker
from tests.otel.probe import get, sample, serving_ports
from tests.worker import blocking
from tests.worker.apps import Ping

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = blocking.topology("wwatchcli")


@pytest.mark.parametrize(("args", "expected"), [([], 1.0), (["--blocked-after", "0"], None),
                                                (["--blocked-after", "2.5"], 2.5)])  # fmt: skip
def test_the_option_reaches_the_worker(
    args: list[str], expected: float | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Worker] = []

    async def serve(aws: AwsClients, worker: Worker, *_: Any) -> None:
        built.append(worker)  # neither connected nor started

    monkeypatch.setattr("bus.cli.worker.configure_logging", lambda *a, **k: None)
    monkeypatch.setattr("bus.cli.worker.serve", serve)
    path = tmp_path / "topology.yaml"
    path.write_text(TOPOLOGY)
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["worker", "-t", str(path), "--env", "x", *args])
    assert result.exit_code == 0, result.output
    (worker,) = built
    assert worker.options.blocked_after == expected


def test_a_negative_threshold_is_refused_by_the_cli() -> None:
    result = CliRunner().invoke(app, ["worker", "--blocked-after", "-1"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "--blocked-after" in result.output


def _worker(settings: Settings, topology: Path, env: str, log: Path) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        "AWS_ENDPOINT_URL": str(settings.endpoint_url),
        "AWS_REGION": settings.region or "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    args = [sys.executable, "cli.py", "worker", "-t", str(topology), "--env", env, "--json-logs"]
    args += ["--wait-seconds", "1", "--blocked-after", "0.2", "--metrics-port", "0"]
    with log.open("wb") as out:
        return subprocess.Popen(args, cwd=ROOT, env=environ, stdout=out, stderr=out)


@pytest.mark.aws
@pytest.mark.timeout(120)
async def test_bus_worker_names_the_handler_line_that_blocks_its_loop(
    aws: AwsClients, bus_settings: Settings, tmp_path: Path
) -> None:
    env = "w" + uuid.uuid4().hex[:8]
    path = tmp_path / "topology.yaml"
    path.write_text(TOPOLOGY)
    topology = load_topology(path)
    await converge(aws, topology, env)
    publisher = Publisher(aws, Registry.from_topology(topology, ROOT), topology, env)
    sent = await publisher.publish(Ping(key="nap"))
    log = tmp_path / "worker.log"
    proc = _worker(bus_settings, path, env, log)
    try:
        deadline = time.monotonic() + 60
        while '"event loop unblocked"' not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no watchdog lines:\n{log.read_text()[-3000:]}")
            await asyncio.sleep(0.1)
        status, scraped = await get(serving_ports(log)["metrics"], "/metrics")
        assert status == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    (warning,) = [e for e in lines if e["event"] == "event loop blocked"]
    assert warning["level"] == "warning"
    assert warning["where"] == f"tests/worker/blocking.py:{blocking.nap_line()} in nap"
    assert warning["line"].startswith("time.sleep(NAP)")
    assert warning["handler"] == "tests.worker.blocking:nap"
    assert warning["in_flight"] == {"naps": 1}
    assert (warning["message_id"],) == sent.message_ids  # SQS's id of the message it handles
    assert warning["blocked_seconds"] >= 0.2
    (unblocked,) = [e for e in lines if e["event"] == "event loop unblocked"]
    assert unblocked["blocked_seconds"] >= blocking.NAP - 0.05  # to within a tick
    assert sample(scraped, "bus_worker_loop_blocked_seconds_count") == 1
    assert sample(scraped, "bus_worker_loop_blocked_seconds_sum") == pytest.approx(
        unblocked["blocked_seconds"], abs=0.001
    )
