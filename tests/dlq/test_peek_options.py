"""``bus dlq show`` and ``bus dlq list`` take ``--visibility-timeout`` like every command that reads
a DLQ, and ``show`` says what its ``--limit`` returns; on the in-memory AWS (what SQS does with
the timeout is SQS's business: the peek's release is tested against LocalStack in
``test_operations.py``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bus.cli import app, dlq_common
from bus.dlq.inspect import PEEK_HOLD_SECONDS
from tests.dlq.memory import Sqs, event, failure


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Sqs:
    """The in-memory AWS behind the CLI, with ``orders`` and its DLQ holding three dead letters, and a
    topology declaring them in the working directory."""
    memory = Sqs()
    memory.queue("orders")
    dead = memory.queue("orders-dlq")
    for n in range(3):
        dead.put(event(n, "orders"), **{"bus.failure": failure("orders")})
    (tmp_path / "topology.yaml").write_text("name: peeks\nqueues:\n  orders: {}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(dlq_common, "AwsClients", memory.session)
    return memory


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["dlq", *args])


def test_show_takes_visibility_timeout(sqs: Sqs) -> None:
    result = run("show", "orders-dlq", "--json", "--visibility-timeout", "7")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 3
    assert sqs.visibility_timeouts
    assert set(sqs.visibility_timeouts) == {7}
    sqs.calls.clear()
    assert run("show", "orders-dlq", "--json").exit_code == 0
    assert set(sqs.visibility_timeouts) == {PEEK_HOLD_SECONDS}  # the default is unchanged


def test_list_takes_visibility_timeout(sqs: Sqs) -> None:
    result = run("list", "--json", "--visibility-timeout", "9")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["queue"], r["sampled"]) for r in rows] == [("orders-dlq", 3)]
    assert sqs.visibility_timeouts
    assert set(sqs.visibility_timeouts) == {9}


def test_visibility_timeout_is_checked(sqs: Sqs) -> None:
    for command in ("show", "list"):
        args = [command, "orders-dlq"] if command == "show" else [command]
        result = run(*args, "--visibility-timeout", "0")
        assert result.exit_code == 2, result.output
    assert sqs.visibility_timeouts == []


def test_show_help_says_a_limit_sorts_only_what_it_received() -> None:
    result = run("show", "--help")
    assert result.exit_code == 0
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.stdout).split())
    assert "oldest death first" in text
    assert "the first N (selected) that SQS handed out, sorted, not the N oldest of the queue" in (
        text
    )
    assert "--visibility-timeout" in text
    assert "--visibility-timeout" in " ".join(run("list", "--help").stdout.split())
