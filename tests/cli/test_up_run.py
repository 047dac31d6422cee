"""``bus up`` as the main job: LocalStack, topology, workers, sample traffic, live table; then it
stops everything it started (bounded with --duration, or by Ctrl-C)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bus import emulator
from bus.cli import main
from bus.settings import Settings

pytestmark = pytest.mark.aws

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = ROOT / "topology.yaml"
ROW = re.compile(r"│ ([\w.-]+) +│ +(\d+) │ +(\d+) │ +(\d+) │ +(\d+) │ +(\d+) │")


def rows(out: str) -> dict[str, tuple[int, ...]]:
    """queue -> (received, processed, retried, dead-lettered, in flight) from the final table."""
    return {m.group(1): tuple(int(g) for g in m.groups()[1:]) for m in ROW.finditer(out)}


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BUS_"))}


@pytest.mark.timeout(180)
def test_up_runs_workers_and_traffic_for_a_duration_and_stops_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "up", "-t", str(TOPOLOGY), "--duration", "15",
         "--rate", "15"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=170, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    started = re.search(r"LocalStack is up \(pid (\d+)\) on (http://127\.0\.0\.1:\d+)", proc.stderr)
    assert started, proc.stderr
    pid, endpoint = int(started.group(1)), started.group(2)
    assert f"stopped LocalStack (pid {pid})" in proc.stderr
    assert emulator.health(endpoint) is None
    assert not emulator.is_running(emulator.EmulatorInstance(pid=pid, port=0, state_dir=""))
    table = rows(proc.stdout)
    assert set(table) == {"billing", "shipping", "notifications", "fraud-review", "ledger.fifo"}
    for queue in ("billing", "shipping", "notifications", "ledger.fifo"):
        assert table[queue][1] > 0, (queue, proc.stdout[-2000:])
    assert table["billing"][3] > 0  # declined cards end in the billing DLQ
    assert all(r[4] == 0 for r in table.values())  # nothing left in flight
    summary = re.search(r"stopped: (\d+) events published; (\d+) processed", proc.stdout)
    assert summary
    assert int(summary.group(1)) >= 100
    assert (tmp_path / ".bus" / "up.log").stat().st_size > 0
    assert not (tmp_path / ".bus" / "emulator.json").exists()
    # one order's flow as a tree, recorded in .bus/traces.jsonl; bus trace prints it again
    flow = re.search(
        r"^OrderPlaced ([0-9a-f-]{36})\ntrace [0-9a-f]{32}\n└── OrderPlaced → ", proc.stdout, re.M
    )
    assert flow, proc.stdout[-3000:]
    assert re.search(r"^    [├└]── billing: ", proc.stdout, re.M)
    monkeypatch.chdir(tmp_path)  # bus trace, in this process, reads .bus/traces.jsonl here
    with pytest.raises(SystemExit) as shown:
        main(["trace", flow.group(1)[:8]])
    printed = capsys.readouterr()
    assert shown.value.code in (0, None), printed.err
    assert printed.out.splitlines()[0] == f"OrderPlaced {flow.group(1)}"


@pytest.mark.timeout(120)
def test_ctrl_c_stops_the_workers_gracefully(
    tmp_path: Path, bus_settings: Settings, bus_env: str
) -> None:
    env = {**clean_env(), "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    args = [sys.executable, str(ROOT / "cli.py"), "up", "-t", str(TOPOLOGY), "--env", bus_env,
            "--endpoint-url", str(bus_settings.endpoint_url), "--region", str(bus_settings.region),
            "--rate", "20", "--yes"]  # fmt: skip
    proc = subprocess.Popen(
        args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        log = tmp_path / ".bus" / "up.log"
        deadline = time.monotonic() + 60
        while b'"order shipped"' not in (log.read_bytes() if log.exists() else b""):
            assert time.monotonic() < deadline, "no order shipped within 60 s"
            assert proc.poll() is None
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert "stopped:" in out
    assert rows(out)["shipping"][1] > 0
    assert '"stop requested; finishing in-flight messages"' in log.read_text()
