"""The trust model (README, "Security"): the commands that only read topology.yaml never import the
code it names; the ones that run it say so. Each command runs on a topology whose model and handler
modules raise when imported."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog

from bus.cli import main


@dataclass(frozen=True)
class Booby:
    topology: Path
    modules: tuple[str, str]

    def imported(self) -> list[str]:
        return [m for m in self.modules if m in sys.modules or (self.topology.parent / m).exists()]


@pytest.fixture
def booby(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Booby]:
    """A valid topology naming ``models_<id>:Evil`` and ``handlers_<id>:handle``; importing either
    leaves a file of its name beside the topology, then raises."""
    tag = uuid.uuid4().hex[:8]
    modules = (f"models_{tag}", f"handlers_{tag}")
    for module in modules:
        (tmp_path / f"{module}.py").write_text(
            "from pathlib import Path\n"
            f"Path(__file__).with_name({module!r}).write_text('imported')\n"
            f"raise RuntimeError('{module} must not be imported')\n"
        )
    topology = tmp_path / "topology.yaml"
    topology.write_text(
        "name: trap\n"
        "queues:\n  work: {}\n"
        f"events:\n  Evil:\n    model: {modules[0]}:Evil\n    publish_to: [{{queue: work}}]\n"
        f"handlers:\n  work:\n    events: {{Evil: '{modules[1]}:handle'}}\n"
    )
    # no region anywhere: an AWS command stops when it opens its clients, after loading the file
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    yield Booby(topology, modules)
    for module in modules:
        sys.modules.pop(module, None)
    sys.path[:] = [p for p in sys.path if p != str(tmp_path)]


def run(argv: list[str]) -> int:
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
    finally:
        structlog.reset_defaults()  # the CLI configured logging onto capsys's streams
    code = exit_info.value.code
    return code if isinstance(code, int) else 1


def test_validate_and_graph_read_the_file_and_import_nothing(
    booby: Booby, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["validate", "-t", str(booby.topology)]) == 0
    assert "valid: 0 topics, 2 queues" in capsys.readouterr().out
    assert run(["graph", "-t", str(booby.topology)]) == 0
    assert "work" in capsys.readouterr().out
    assert booby.imported() == []


@pytest.mark.parametrize(
    "command",
    [
        ["plan"],
        ["apply", "--yes"],
        ["dlq", "list"],
        ["dlq", "show", "work-dlq"],
        ["dlq", "export", "work-dlq", "-o", "out.jsonl"],
        ["dlq", "redrive", "work-dlq", "--yes"],
        ["dlq", "purge", "work-dlq", "--yes"],
    ],
)
def test_aws_commands_load_the_file_and_import_nothing(
    booby: Booby, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([*command, "-t", str(booby.topology)]) == 3
    # the topology loaded (no problem was reported); the clients found no region
    assert "AWS_REGION" in capsys.readouterr().err
    assert booby.imported() == []


@pytest.mark.parametrize(
    ("command", "module"),
    [
        (["schemas", "export", "--out", "snapshots"], 0),
        (["publish", "Evil", "-d", "{}"], 0),
        (["worker"], 0),
        (["docs", "-o", "-"], 0),
        (["schemas", "check", "--snapshots", "snapshots"], 0),
        (["dlq", "replay", "export.jsonl"], 0),  # validates each message against its model
        (["validate", "--imports"], 0),
    ],
)
def test_the_commands_that_run_the_named_code_import_it(
    booby: Booby, command: list[str], module: int, capsys: pytest.CaptureFixture[str]
) -> None:
    export = booby.topology.with_name("export.jsonl")  # replay's file must exist
    export.touch()
    command = [str(export) if part == export.name else part for part in command]
    assert run([*command, "-t", str(booby.topology)]) != 0
    assert f"{booby.modules[module]} must not be imported" in capsys.readouterr().err
    assert booby.modules[module] in booby.imported()
