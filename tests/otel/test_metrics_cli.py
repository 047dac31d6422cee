"""``bus worker --metrics-port 0 --health-port 0`` against the emulator: Prometheus scrapes the
worker's metrics over HTTP (text exposition), probes get ``/healthz`` and ``/readyz``."""

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
from typing import Any

import pytest

from bus.aws import AwsClients
from bus.publish.publisher import Publisher
from bus.schema import Registry
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.load import load_topology
from tests.otel.conftest import Collector
from tests.otel.probe import get, sample, serving_ports
from tests.worker.apps import Ping

pytestmark = pytest.mark.aws
ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = """
name: wscrape
queues:
  work: {visibility_timeout: 5, dead_letter: {max_receive_count: 2}}
events:
  Ping: {model: tests.worker.apps:Ping, publish_to: [{queue: work}]}
handlers:
  work:
    events: {Ping: "tests.worker.apps:record"}
    retry: {attempts: 1}
"""


def _worker(
    settings: Settings, topology: Path, env: str, log: Path, traces_to: str
) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{traces_to}/v1/traces",  # traces only
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "AWS_ENDPOINT_URL": str(settings.endpoint_url),
        "AWS_REGION": settings.region or "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    args = [sys.executable, "cli.py", "worker", "-t", str(topology), "--env", env]
    args += ["--json-logs", "--wait-seconds", "1", "--grace", "5"]
    args += ["--metrics-port", "0", "--health-port", "0"]
    with log.open("wb") as out:
        return subprocess.Popen(args, cwd=ROOT, env=environ, stdout=out, stderr=out)


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def _until(
    check: Callable[[], Any], proc: subprocess.Popen[bytes], log: Path, within: float = 60
) -> Any:
    """``check()``'s (awaited) result once it is truthy; fail if the worker exits or time is up."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the worker never got there:\n{_tail(log)}")
        await asyncio.sleep(0.2)


@pytest.mark.timeout(120)
async def test_prometheus_scrapes_a_running_worker_which_exports_its_traces(
    aws: AwsClients, bus_settings: Settings, tmp_path: Path, collector: str
) -> None:
    env = "s" + uuid.uuid4().hex[:8]
    path = tmp_path / "topology.yaml"
    path.write_text(TOPOLOGY)
    topology = load_topology(path)
    await converge(aws, topology, env)
    publisher = Publisher(aws, Registry.from_topology(topology, ROOT), topology, env)
    log = tmp_path / "worker.log"
    Collector.received.clear()
    proc = _worker(bus_settings, path, env, log, collector)
    try:
        ports = await _until(lambda: len(serving_ports(log)) == 2 and serving_ports(log), proc, log)
        health, metrics = ports["health"], ports["metrics"]
        assert health != metrics

        async def ready() -> bool:
            return (await get(health, "/readyz"))[0] == 200

        await _until(ready, proc, log)
        assert await get(health, "/healthz") == (200, "ok\n")
        k = uuid.uuid4().hex[:6]
        await publisher.publish_many(
            [Ping(key=f"{k}-1"), Ping(key=f"{k}-2"), Ping(key=f"{k}-3", behaviour="reject")],
            check=True,
        )
        work = {"messaging_destination_name": "work", "bus_event_type": "Ping"}

        async def scraped() -> str | None:
            status, text = await get(metrics, "/metrics")
            assert status == 200
            dead = sample(text, "bus_messages_dead_lettered_total", bus_reason="rejected", **work)
            return text if dead == 1 else None

        text = await _until(scraped, proc, log)
        assert sample(text, "bus_messages_handled_total", bus_outcome="handled", **work) == 2
        assert sample(text, "messaging_client_consumed_messages_total", **work) == 3
        assert "# TYPE bus_messages_handled counter" in text
        assert "# TYPE messaging_process_duration_seconds histogram" in text
        assert (
            sample(text, "messaging_process_duration_seconds_count", bus_outcome="handled", **work)
            == 2
        )
        assert (
            sample(
                text,
                "messaging_process_duration_seconds_bucket",
                le="+Inf",
                bus_outcome="handled",
                **work,
            )
            == 2
        )
        assert sample(text, "bus_messages_in_flight", **work) == 0
        assert "# TYPE bus_messages_in_flight gauge" in text
        assert (await get(metrics, "/healthz"))[0] == 404  # each port serves its own paths
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
    assert code == 0, _tail(log)
    # the standard variables turned bus worker's tracing on: its spans went out by OTLP
    traces = [body for path, _, body in Collector.received if path == "/v1/traces"]
    assert traces, Collector.received
    sent = b"".join(traces)
    assert b"process work" in sent  # the consumer spans of the three messages
    assert b"bus.outcome" in sent
