"""``bus validate``: exit codes and output, through the real entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bus.cli import main

ROOT = Path(__file__).parents[2]
BAD = ROOT / "tests" / "topology" / "bad"


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    code = exit_info.value.code
    return code if isinstance(code, int) else 1


@pytest.mark.parametrize("env", [[], ["--env", "dev"]])
def test_reference_topology_validates_with_a_summary(
    env: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["validate", "-t", str(ROOT / "topology.yaml"), *env])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out == (
        f"{ROOT / 'topology.yaml'}: valid: 2 topics, 11 queues (4 derived DLQs), "
        "4 subscriptions, 1 bus, 1 rule, 5 events, 5 handlers\n"
    )
    assert captured.err == ""


def test_problems_print_one_line_each_and_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    path = BAD / "several_problems.yaml"
    code = run(["validate", "-t", str(path)])
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 3
    assert captured.out == ""
    assert len(lines) == 18
    assert all(line.startswith(f"{path}:") for line in lines[:-1])
    assert lines[7].startswith(
        f"{path}:19:12: subscriptions[0].queue: queue 'billng' is not declared"
    )
    assert lines[-1] == "17 problems found"


def test_missing_file_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "topology.yaml"
    code = run(["validate", "--topology", str(path)])
    assert code == 3
    assert capsys.readouterr().err == (
        f"{path}:1:1: cannot read the topology file: No such file or directory\n1 problem found\n"
    )


def test_env_changes_physical_name_checks(capsys: pytest.CaptureFixture[str]) -> None:
    path = BAD / "long_name_with_env.yaml"
    assert run(["validate", "-t", str(path)]) == 0
    assert run(["validate", "-t", str(path), "--env", "staging-eu"]) == 3
    assert "(with env 'staging-eu') is 83 characters long" in capsys.readouterr().err


def test_cli_py_from_a_checkout(tmp_path: Path) -> None:
    bad = tmp_path / "topology.yaml"
    bad.write_text("name: shop\nqueues:\n  billing: {visibility_timeout: 99999}\n")
    result = subprocess.run(
        [sys.executable, "cli.py", "validate", "-t", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3
    assert result.stderr.splitlines() == [
        f"{bad}:3:33: queues.billing.visibility_timeout: must be between 0 and 43200, got 99999",
        "1 problem found",
    ]
