"""``bus dlq list`` on a non-terminal (a pipe, the CLI runner) prints plain tab-separated lines:
every queue name whole, never wrapped (on the in-memory AWS: this is bus's printing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bus.cli import app, dlq_common
from tests.dlq.memory import Sqs, event, failure

LONG = "notifications-for-every-customer-of-the-shop-in-every-country-we-ship-to"


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Sqs:
    memory = Sqs()
    for name in ("notifications", LONG):
        memory.queue(name)
        dead = memory.queue(f"{name}-dlq")
        dead.put(event(1, name), **{"bus.failure": failure(name)})
    (tmp_path / "topology.yaml").write_text(
        f"name: tables\nqueues:\n  notifications: {{}}\n  {LONG}: {{}}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(dlq_common, "AwsClients", memory.session)
    return memory


def test_list_on_a_pipe_prints_whole_names_in_plain_columns(sqs: Sqs) -> None:
    result = CliRunner().invoke(app, ["dlq", "list"], terminal_width=40)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == ["DLQ", "serves", "depth", "oldest", "top reasons"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert set(rows) == {"notifications-dlq", f"{LONG}-dlq"}
    assert rows[f"{LONG}-dlq"][1] == LONG
    assert rows["notifications-dlq"][1:3] == ["notifications", "1"]
    assert all(len(row) == 5 for row in rows.values())
