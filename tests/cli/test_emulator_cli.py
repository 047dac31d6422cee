"""`bus emulator start|status|stop`: a detached LocalStack, recorded, stopped by its process id.

``start`` runs in a process of its own (what it starts must outlive it); the other commands run
in this process (``here``), in the same directory and without the AWS variables."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bus import emulator
from bus.cli import main

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


@pytest.fixture
def here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``bus(...)``'s twin that runs the command in this process, in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
        code = exit_info.value.code
        captured = capsys.readouterr()
        returncode = code if isinstance(code, int) else 1 if code else 0
        return subprocess.CompletedProcess(list(args), returncode, captured.out, captured.err)

    return run


def test_start_status_stop_records_and_ends_that_process(
    tmp_path: Path, here: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    started = bus("emulator", "start", cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    record = emulator.load_record(tmp_path / ".bus" / "emulator.json")
    assert record is not None
    try:
        assert f"export AWS_ENDPOINT_URL={record.endpoint}" in started.stdout
        assert emulator.health(record.endpoint) is not None
        [dynamodb] = record.companions
        assert (dynamodb.backend, dynamodb.services) == ("ministack", ("dynamodb",))
        assert f"export AWS_ENDPOINT_URL_DYNAMODB={dynamodb.endpoint}\n" in started.stdout
        assert emulator.health(dynamodb.endpoint) is not None
        assert (tmp_path / ".bus" / "localstack" / "fs").is_dir()

        again = here("emulator", "start")
        assert again.returncode == 0
        assert f"already running (pid {record.pid})" in again.stderr

        status = here("emulator", "status")
        assert status.returncode == 0
        assert f"running: localstack pid {record.pid}, {record.endpoint}" in status.stdout
        assert f"running: ministack pid {dynamodb.pid}, {dynamodb.endpoint}" in status.stdout

        stopped = here("emulator", "stop")
        assert stopped.returncode == 0
        assert f"stopped pid {record.pid}" in stopped.stdout
        assert emulator.health(record.endpoint) is None
        assert emulator.health(dynamodb.endpoint) is None
        assert not (tmp_path / ".bus" / "emulator.json").exists()
    finally:
        emulator.stop(record)

    gone = here("emulator", "status")
    assert gone.returncode == 1
    assert "not started" in gone.stdout
    missing = here("emulator", "stop")
    assert missing.returncode == 5
    assert "no emulator recorded" in missing.stderr


def test_start_with_the_ministack_backend_serves_everything_from_one_process(
    tmp_path: Path,
) -> None:
    started = bus("emulator", "start", "--backend", "ministack", cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    record = emulator.load_record(tmp_path / ".bus" / "emulator.json")
    assert record is not None
    try:
        assert record.backend == "ministack"
        assert record.companions == ()
        assert "ministack is up" in started.stderr
        assert f"export AWS_ENDPOINT_URL={record.endpoint}\n" in started.stdout
        assert "AWS_ENDPOINT_URL_DYNAMODB" not in started.stdout  # one endpoint serves it all
        health = emulator.health(record.endpoint)
        assert health is not None
        served = {"monitoring" if s == "cloudwatch" else s for s in emulator.DEFAULT_SERVICES}
        assert health["services"] == dict.fromkeys(served, "available")  # its name for CloudWatch
    finally:
        emulator.stop(record)
    assert emulator.health(record.endpoint) is None


def test_an_unknown_backend_is_refused(
    here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    refused = here("emulator", "start", "--backend", "moto")
    assert refused.returncode == 5
    assert "unknown emulator backend 'moto'; choose one of localstack, ministack" in refused.stderr
