"""``bus dlq replay FILE`` checks its file before anything else: a usage error (exit code 2)
naming it, not a ``FileNotFoundError`` traceback."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bus.cli import app


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    result = CliRunner().invoke(app, ["dlq", "replay", str(missing)], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert f"file '{missing}' does not exist" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["dlq", "replay", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert "is a directory" in result.output


def test_export_checks_its_output_before_receiving(tmp_path: Path) -> None:
    """The queue does not exist and no AWS is configured: the file is checked first."""
    for output, says in (
        (tmp_path / "no" / "such" / "x.jsonl", "does not exist"),
        (tmp_path, "is a directory"),
    ):
        result = CliRunner().invoke(
            app, ["dlq", "export", "billing", "-o", str(output)], env={"COLUMNS": "200"}
        )
        assert result.exit_code == 2, result.output
        assert says in result.output
