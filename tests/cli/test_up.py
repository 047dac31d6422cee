"""``bus up --once``: with a given endpoint, and starting (then stopping) its own LocalStack."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from bus import emulator
from bus.cli import main
from bus.settings import Settings

pytestmark = pytest.mark.aws

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = ROOT / "topology.yaml"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    code = exit_info.value.code
    captured = capsys.readouterr()
    return (code if isinstance(code, int) else 1 if code else 0), captured.out, captured.err


def test_up_once_against_an_endpoint_applies_and_prints_plan_and_graph(
    bus_settings: Settings, bus_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["up", "--once", "-t", str(TOPOLOGY), "--env", bus_env,
            "--endpoint-url", str(bus_settings.endpoint_url), "--region", str(bus_settings.region),
            "--yes"]  # fmt: skip
    code, out, _ = run(argv, capsys)
    assert code == 0
    assert f"+ create queue {bus_env}-billing\n" in out
    assert "Plan: 32 to create, 0 to update, 0 to delete, 0 unchanged.\n" in out
    assert f'```mermaid\nflowchart LR\n  bus_shop_events[["{bus_env}-shop-events"]]\n' in out
    code, out, _ = run(argv, capsys)
    assert code == 0
    assert "No changes. 32 unchanged.\n" in out


def test_up_starts_its_own_emulator_and_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    before = os.environ.get("AWS_ACCESS_KEY_ID")
    code, out, err = run(["up", "--once", "-t", str(TOPOLOGY)], capsys)
    assert code == 0, err
    started = re.search(r"LocalStack is up \(pid (\d+)\) on (http://127\.0\.0\.1:\d+)", err)
    assert started, err
    pid, endpoint = int(started.group(1)), started.group(2)
    assert f"at {endpoint}:" in out
    assert "+ create queue billing\n" in out  # no env prefix
    assert f"stopped LocalStack (pid {pid})" in err
    assert emulator.health(endpoint) is None
    assert not Path(f"/proc/{pid}").exists() or not emulator.is_running(
        emulator.EmulatorInstance(pid=pid, port=0, state_dir="")
    )
    assert (tmp_path / ".bus" / "localstack").is_dir()
    assert not (tmp_path / ".bus" / "emulator.json").exists()
    assert os.environ.get("AWS_ACCESS_KEY_ID") == before


def test_up_reuses_a_recorded_running_emulator_and_leaves_it_running(
    bus_emulator: emulator.EmulatorInstance | None,
    bus_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if bus_emulator is None:
        pytest.skip("the session uses BUS_TEST_ENDPOINT_URL, not an emulator it started")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    record = emulator.record_path(tmp_path)
    emulator.save_record(replace(bus_emulator, _process=None), record)
    code, out, err = run(["up", "--once", "-t", str(TOPOLOGY), "--env", bus_env], capsys)
    assert code == 0, err
    assert f"using the running LocalStack (pid {bus_emulator.pid})" in err
    assert f"at {bus_emulator.endpoint}:" in out
    assert emulator.is_running(bus_emulator)
    assert record.exists()
    assert "AWS_ENDPOINT_URL" not in os.environ
