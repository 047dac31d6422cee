"""What a scan of a FIFO DLQ could not reach, counted and said, on the in-memory AWS (its FIFO
queues block a group while a message of it is in flight, the rule SQS documents). The same
against LocalStack: ``test_fifo.py``. Also the exit codes of ``bus dlq redrive|export|purge`` for
incomplete reports, with the AWS side replaced by a canned report.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bus import dlq
from bus.cli import app, dlq_common, dlq_output
from bus.dlq.inspect import summarize
from bus.dlq.queues import DeadLetterQueue, QueueRef
from tests.dlq.memory import QueueView, Sqs, event, failure

COUNT = 25


def fifo_dlq(count: int = COUNT, name: str = "ledger-dlq.fifo") -> tuple[Sqs, QueueView]:
    sqs = Sqs()
    source = sqs.queue(name.replace("-dlq", ""))
    dead = sqs.queue(name)
    for n in range(count):
        group = "g" if dead.fifo else None
        dead.put(event(n, source.name), group, **{"bus.failure": failure(source.name)})
    return sqs, dead


SELECTION = dlq.Selection.build("data.n >= 12")


async def test_a_fifo_export_counts_what_it_could_not_reach(tmp_path: Path) -> None:
    sqs, dead = fifo_dlq()
    report = await dlq.export(sqs.clients(), dead.url, tmp_path / "out.jsonl", wait_seconds=0)
    assert (report.exported, report.scanned, report.unreached) == (10, 10, COUNT - 10)
    assert not report.complete
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 10
    assert dead.hidden() == []


async def test_fifo_peek_purge_redrive_and_list_count_it_too() -> None:
    sqs, dead = fifo_dlq()
    aws = sqs.clients()
    peeked = await dlq.peek(aws, dead.url, limit=None, wait_seconds=0)
    assert (len(peeked), peeked.unreached) == (10, COUNT - 10)
    limited = await dlq.peek(aws, dead.url, limit=5, wait_seconds=0)
    assert (len(limited), limited.unreached) == (5, 0)  # stopped at its limit: nothing to say
    purged = await dlq.purge(aws, dead.url, selection=SELECTION, wait_seconds=0)
    assert (purged.deleted, purged.unreached, purged.complete) == (0, COUNT - 10, False)
    options = dlq.RedriveOptions(selection=SELECTION, wait_seconds=0)
    redriven = await dlq.redrive_selected(aws, dead.url, options=options)
    assert (redriven.selected, redriven.unreached, redriven.complete) == (0, COUNT - 10, False)
    ref = QueueRef(name=dead.name, url=dead.url, arn=dead.arn)
    summary = await summarize(aws, DeadLetterQueue(ref, ()), wait_seconds=0)
    assert (summary.sampled, summary.unreached) == (10, COUNT - 10)
    assert summary.to_json(datetime.now(UTC))["unreached"] == COUNT - 10
    assert len(dead.messages) == COUNT
    assert dead.hidden() == []


async def test_a_scan_that_reaches_everything_reports_nothing(tmp_path: Path) -> None:
    sqs, dead = fifo_dlq(name="orders-dlq")  # a standard queue
    report = await dlq.export(sqs.clients(), dead.url, tmp_path / "out.jsonl", wait_seconds=0)
    assert (report.exported, report.unreached, report.complete) == (COUNT, 0, True)
    sqs, dead = fifo_dlq(8)  # FIFO, one batch
    peeked = await dlq.peek(sqs.clients(), dead.url, limit=None, wait_seconds=0)
    assert (len(peeked), peeked.unreached) == (8, 0)


async def test_messages_in_flight_elsewhere_when_the_scan_begins_count_as_unreached(
    tmp_path: Path,
) -> None:
    sqs, dead = fifo_dlq(4)
    dead.hold(dead.put(event(99, "ledger.fifo"), "h"))  # received by someone else
    report = await dlq.export(sqs.clients(), dead.url, tmp_path / "out.jsonl", wait_seconds=0)
    assert (report.exported, report.unreached) == (4, 1)


def test_the_export_message_never_claims_everything(capsys: pytest.CaptureFixture[str]) -> None:
    report = dlq.ExportReport(queue="q.fifo", scanned=10, exported=10, path="o.jsonl", unreached=15)
    assert dlq_output.export_report(report) == 1
    printed = capsys.readouterr()
    assert "Exported 10 of 10" not in printed.out
    assert "about 15 not reached" in printed.out
    assert "about 15 messages of q.fifo were not reached" in printed.err
    assert "FIFO" in printed.err
    complete = dlq.ExportReport(queue="q", scanned=10, exported=4, path="o.jsonl")
    assert dlq_output.export_report(complete) == 0
    assert "Exported 4 of 10 messages of q" in capsys.readouterr().out


# -- exit codes of the commands ---------------------------------------------------------------------


@pytest.fixture
def canned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[Any], None]:
    """Make the command's AWS work return ``report``, without any AWS."""
    monkeypatch.chdir(tmp_path)  # no topology.yaml here: none is loaded

    def use(report: Any) -> None:
        monkeypatch.setattr(dlq_common, "run", lambda settings, work: report)

    return use


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["dlq", *args])


def test_redrive_exits_1_when_something_was_not_moved(canned: Callable[[Any], None]) -> None:
    canned(
        dlq.RedriveReport(
            queue="q",
            scanned=6,
            selected=5,
            moved=3,
            failed={"m-1": "send to q failed: InternalError"},
            not_deleted={"m-2": "InternalError"},
        )
    )
    result = run("redrive", "q", "--reason", "rejected", "--yes")
    assert result.exit_code == 1, result.output
    assert "Redrove 3 of 6 messages of q" in result.stdout
    assert "Redrive incomplete: 1 not sent, 1 not deleted from the DLQ." in result.stderr
    canned(dlq.RedriveReport(queue="q.fifo", scanned=10, selected=10, moved=10, unreached=5))
    result = run("redrive", "q.fifo", "--reason", "rejected", "--yes")
    assert result.exit_code == 1, result.output
    assert "about 5 messages of q.fifo were not reached" in result.stderr
    canned(dlq.RedriveReport(queue="q", scanned=6, selected=5, moved=5))
    assert run("redrive", "q", "--reason", "rejected", "--yes").exit_code == 0


def test_purge_exits_1_when_a_selected_message_was_not_deleted(
    canned: Callable[[Any], None],
) -> None:
    canned(dlq.PurgeReport(queue="q", everything=False, deleted=2, scanned=9, failed={"m": "x"}))
    result = run("purge", "q", "--reason", "rejected", "--yes")
    assert result.exit_code == 1, result.output
    assert "Deleted 2 of 9 messages of q." in result.stdout
    assert "not deleted: m: x" in result.stderr
    assert "Purge incomplete: 1 selected but not deleted." in result.stderr
    canned(dlq.PurgeReport(queue="q.fifo", everything=False, scanned=10, unreached=15))
    result = run("purge", "q.fifo", "--reason", "rejected", "--yes")
    assert result.exit_code == 1, result.output
    assert "about 15 not reached" in result.stderr
    canned(dlq.PurgeReport(queue="q", everything=False, deleted=2, scanned=9))
    assert run("purge", "q", "--reason", "rejected", "--yes").exit_code == 0


def test_export_exits_1_when_messages_were_not_reached(
    canned: Callable[[Any], None], tmp_path: Path
) -> None:
    canned(dlq.ExportReport(queue="q.fifo", scanned=10, exported=10, path="o", unreached=15))
    result = run("export", "q.fifo", "-o", str(tmp_path / "o.jsonl"))
    assert result.exit_code == 1, result.output
    assert "Exported 10 of 10" not in result.stdout


async def test_a_standard_queue_counts_messages_in_flight_elsewhere(tmp_path: Path) -> None:
    sqs, dead = fifo_dlq(6, name="orders-dlq")  # a standard queue
    for message in dead.messages[:2]:
        dead.hold(message)  # received by someone else, for the whole scan
    report = await dlq.export(sqs.clients(), dead.url, tmp_path / "out.jsonl", wait_seconds=0)
    assert (report.exported, report.unreached, report.complete) == (4, 2, False)
    peeked = await dlq.peek(sqs.clients(), dead.url, limit=3, wait_seconds=0)
    assert (len(peeked), peeked.unreached) == (3, 0)  # stopped at its limit: nothing to say


def test_the_standard_queue_warning_says_in_flight(capsys: pytest.CaptureFixture[str]) -> None:
    dlq_output.unreached_warning("orders-dlq", 2)
    printed = capsys.readouterr().err
    assert "about 2 messages of orders-dlq were not reached. They were in flight" in printed
    assert "FIFO" not in printed
