"""`bus emulator start|status|stop`: a detached LocalStack, recorded, stopped by its process id."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bus import emulator

pytestmark = [pytest.mark.aws, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]


def bus(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )


def test_start_status_stop_records_and_ends_that_process(tmp_path: Path) -> None:
    started = bus("emulator", "start", cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    record = emulator.load_record(tmp_path / ".bus" / "emulator.json")
    assert record is not None
    try:
        assert f"export AWS_ENDPOINT_URL={record.endpoint}" in started.stdout
        assert emulator.health(record.endpoint) is not None
        assert (tmp_path / ".bus" / "localstack" / "fs").is_dir()

        again = bus("emulator", "start", cwd=tmp_path)
        assert again.returncode == 0
        assert f"already running (pid {record.pid})" in again.stderr

        status = bus("emulator", "status", cwd=tmp_path)
        assert status.returncode == 0
        assert f"running: pid {record.pid}, {record.endpoint}" in status.stdout

        stopped = bus("emulator", "stop", cwd=tmp_path)
        assert stopped.returncode == 0
        assert f"stopped pid {record.pid}" in stopped.stdout
        assert emulator.health(record.endpoint) is None
        assert not (tmp_path / ".bus" / "emulator.json").exists()
    finally:
        emulator.stop(record)

    gone = bus("emulator", "status", cwd=tmp_path)
    assert gone.returncode == 1
    assert "not started" in gone.stdout
    missing = bus("emulator", "stop", cwd=tmp_path)
    assert missing.returncode == 5
    assert "no emulator recorded" in missing.stderr
