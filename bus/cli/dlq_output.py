"""How ``bus dlq`` prints: the DLQ table, decoded dead letters, progress bars and reports."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bus.aws.failure import UNKNOWN
from bus.aws.reports import string_attribute
from bus.cli.output import err, out
from bus.dlq import (
    DlqMessage,
    ExportReport,
    MoveTaskStatus,
    PurgeReport,
    QueueSummary,
    RedriveReport,
    ReplayReport,
)
from bus.dlq.export import dumps
from bus.dlq.letter import format_time
from bus.envelope.bounded import loads
from bus.topology.model import FIFO_SUFFIX

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

BODY_LINES = 20
BODY_CHARS = 2_000


def age(seconds: float | None) -> str:
    """``45s``, ``12m``, ``3h 5m``, ``4d 2h``."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86_400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86_400}d {s % 86_400 // 3600}h"


def _summary_row(s: QueueSummary, now: datetime) -> tuple[str, str, str, str, str]:
    reasons = ", ".join(f"{r} {n}" for r, n in s.reasons[:3]) or "-"
    if s.sampled and s.sampled < s.depth:
        reasons += f" (of {s.sampled} sampled)"
    if s.unreached:
        reasons += f" (about {s.unreached} not reached)"
    depth = str(s.depth) + (f" ({s.in_flight} in flight)" if s.in_flight else "")
    serves = ", ".join(s.serves) or "-"
    return s.queue.name, serves, depth, age(s.oldest_age(now)), reasons


SUMMARY_COLUMNS = ("DLQ", "serves", "depth", "oldest", "top reasons")


def summaries_table(summaries: Sequence[QueueSummary], now: datetime) -> None:
    """A table on a terminal (names never wrapped); elsewhere (a pipe, a file) plain lines of
    tab-separated columns, a header first, every name whole."""
    rows = [_summary_row(s, now) for s in summaries]
    if not out.is_terminal:
        out.file.write("".join("\t".join(row) + "\n" for row in (SUMMARY_COLUMNS, *rows)))
        out.file.flush()
        return
    table = Table(title="Dead-letter queues", title_justify="left")
    table.add_column("DLQ", no_wrap=True)
    table.add_column("serves", no_wrap=True)
    table.add_column("depth", justify="right", no_wrap=True)
    table.add_column("oldest", no_wrap=True)
    table.add_column("top reasons")
    for row in rows:
        table.add_row(*row)
    out.print(table)


def unreached_warning(queue: str, unreached: int) -> None:
    """Say that a scan could not see every message of the queue, and why."""
    if not unreached:
        return
    if queue.endswith(FIFO_SUFFIX):
        why = (
            "It is a FIFO queue: SQS hands out no further messages of a message group while "
            "earlier ones are in flight, and this command keeps the messages it does not delete in "
            "flight until it ends, so it sees only the first messages (up to 10) of such a group "
            "(and none of a group someone else has in flight). Redrive or purge those first "
            "messages (or move the whole queue with `bus dlq redrive` without a selection), then "
            "run it again."
        )
    else:
        why = (
            "They were in flight (received by a worker or another command, hidden until their "
            "visibility timeout ends) while it ran. Run it again once they are visible "
            "(`bus dlq list` shows how many are in flight)."
        )
    err.print(
        f"warning: about {unreached} messages of {queue} were not reached. {why}", markup=False
    )


def write_json(value: Any) -> None:
    """``value`` as indented JSON on stdout; valid UTF-8 whatever text it holds (``dumps``)."""
    out.file.write(dumps(value, indent=2) + "\n")
    out.file.flush()


def printable(text: str) -> str:
    """``text`` safe to print: text that is not valid Unicode (a lone surrogate) escaped as
    ``\\ud800``, control characters other than newline and tab as ``\\x1b``, so nothing a
    message holds can break the output or drive the terminal."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def _body(letter: DlqMessage, full: bool) -> str:
    if letter.envelope is not None and letter.wrapper == "raw":
        text = json.dumps(letter.envelope, indent=2, ensure_ascii=False)
    else:
        try:
            text = json.dumps(loads(letter.body), indent=2, ensure_ascii=False)
        except ValueError:
            text = letter.body
    text = printable(text)
    if full:
        return text
    lines = text.splitlines()
    cut = "\n".join(lines[:BODY_LINES])[:BODY_CHARS]
    if cut != text:
        cut += f"\n... ({len(text) - len(cut)} more characters; --full shows all)"
    return cut


def letters(found: Sequence[DlqMessage], *, full: bool) -> None:
    if not found:
        out.print("No messages (none visible, or none selected).", markup=False)
        return
    for letter in found:
        f = letter.failure
        kind = f"{letter.event_type or '?'} v{letter.event_version or '?'}"
        out.rule(printable(f"{letter.message_id}  {kind}"), align="left")
        rows = [
            ("event id", letter.event_id or "-"),
            ("reason", f.reason + (f" (attempt {f.attempt})" if f.attempt else "")),
            ("error", f"{f.error_type or ''}: {f.error}" if f.error else "-"),
            ("source queue", f.queue or letter.dead_letter_source_arn or "-"),
            ("first failed", format_time(f.first_failed_at) or "-"),
            ("last failed", format_time(f.failed_at) or format_time(letter.sent_at) or "-"),
            ("receives", str(letter.receive_count)),
        ]
        if letter.group_id:
            rows.append(("group", letter.group_id))
        if letter.pointer:
            rows.append(("claim check", letter.pointer))
        if letter.decode_error:
            rows.append(("decode", letter.decode_error))
        binary = [n for n, v in letter.message_attributes.items() if "BinaryValue" in v]
        if binary:
            rows.append(("binary attrs", ", ".join(binary)))
        if f.untrusted:
            rows.append(("untrusted", f"{f.untrusted}: {f.raw}"))
        rows.extend(_report_rows(letter))
        for name, value in rows:
            out.print(f"  {name:<13} {printable(value)}", markup=False, highlight=False)
        out.print(f"  body ({letter.wrapper}):", markup=False)
        out.print(_body(letter, full), markup=False)


def _report_rows(letter: DlqMessage) -> list[tuple[str, str]]:
    """What a service said of the message (its attributes, labelled as such), or that nothing did."""
    f = letter.failure
    if f.reason == UNKNOWN:
        return [
            ("why", "unknown: no bus.failure record, and the service said nothing (SNS never does)")
        ]
    if f.reported_by is None:
        return []
    rows = [
        ("reported by", f"{f.reported_by}, in message attributes anyone who can send here can set")
    ]
    labels = {"RULE_ARN": "rule", "TARGET_ARN": "target", "EXHAUSTED_RETRY_CONDITION": "gave up on"}
    for name, label in labels.items():
        value = string_attribute(letter.message_attributes, name)
        if value is not None:
            rows.append((label, value))
    return rows


def redrive_report(report: RedriveReport) -> int:
    """Print the report; the exit code: 1 when anything was not moved, not deleted or not reached."""
    if report.dry_run:
        where = ", ".join(f"{n} to {q}" for q, n in report.destinations.items()) or "nothing"
        out.print(
            f"Dry run: {report.selected} of {report.scanned} messages selected; would send "
            f"{where}.",
            markup=False,
        )
    else:
        where = ", ".join(f"{n} to {q}" for q, n in report.destinations.items()) or "none"
        out.print(
            f"Redrove {report.moved} of {report.scanned} messages of {report.queue} ({where}); "
            f"{report.skipped} not selected.",
            markup=False,
        )
    for message_id, reason in sorted(report.failed.items()):
        err.print(f"stays in the DLQ: {message_id}: {reason}", markup=False)
    if report.held_back:
        err.print(
            f"{report.held_back} held back (still in the DLQ): an earlier message of their FIFO "
            "group failed.",
            markup=False,
        )
    for group in sorted(report.out_of_order):
        err.print(
            f"FIFO group {group} is out of order at its destination: SQS accepted later messages "
            "of it in the same call as one that failed, which stays in the DLQ.",
            markup=False,
        )
    for message_id, reason in sorted(report.not_deleted.items()):
        err.print(
            f"sent but not deleted from the DLQ: {message_id}: {reason} (it is in both queues "
            "now, and is delivered twice if it is redriven again)",
            markup=False,
        )
    unreached_warning(report.queue, report.unreached)
    if report.complete:
        return 0
    problems = [
        f"{len(report.failed)} not sent" if report.failed else "",
        f"{report.held_back} held back" if report.held_back else "",
        f"{len(report.not_deleted)} not deleted from the DLQ" if report.not_deleted else "",
        f"about {report.unreached} not reached" if report.unreached else "",
    ]
    label = "Dry run" if report.dry_run else "Redrive"
    err.print(f"{label} incomplete: {', '.join(p for p in problems if p)}.", markup=False)
    return 1


def export_report(report: ExportReport) -> int:
    """Print the report; the exit code: 1 when some messages were not reached."""
    if report.unreached:
        out.print(
            f"Exported {report.exported} messages of {report.queue} to {report.path} "
            f"({report.scanned} read; about {report.unreached} not reached).",
            markup=False,
        )
    else:
        out.print(
            f"Exported {report.exported} of {report.scanned} messages of {report.queue} to "
            f"{report.path}.",
            markup=False,
        )
    unreached_warning(report.queue, report.unreached)
    return 0 if report.complete else 1


def purge_report(report: PurgeReport) -> int:
    """Print the report; the exit code: 1 when a selected message was not deleted or some were
    not reached."""
    if report.everything:
        out.print(f"Purged {report.queue} (about {report.deleted} messages).", markup=False)
    else:
        out.print(
            f"Deleted {report.deleted} of {report.scanned} messages of {report.queue}.",
            markup=False,
        )
    for message_id, reason in sorted(report.failed.items()):
        err.print(f"not deleted: {message_id}: {reason}", markup=False)
    unreached_warning(report.queue, report.unreached)
    if report.complete:
        return 0
    problems = [
        f"{len(report.failed)} selected but not deleted" if report.failed else "",
        f"about {report.unreached} not reached" if report.unreached else "",
    ]
    err.print(f"Purge incomplete: {', '.join(p for p in problems if p)}.", markup=False)
    return 1


def replay_report(report: ReplayReport) -> None:
    where = ", ".join(f"{n} to {q}" for q, n in report.destinations.items())
    if report.raw:
        where += f"; {report.raw} of them as exported, not envelopes, not validated"
    if report.dry_run:
        out.print(f"Dry run: every message is valid; would send {where}.", markup=False)
    else:
        out.print(f"Replayed {report.sent} messages ({where}).", markup=False)
    for line, reason in sorted(report.failed.items()):
        err.print(f"{report.path}:{line}: not sent: {reason}", markup=False)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


async def with_redrive_progress(
    total: int, run: Callable[[Callable[[RedriveReport], None]], Awaitable[RedriveReport]]
) -> RedriveReport:
    with _progress() as bar:
        task = bar.add_task("scanned", total=total or None)

        def update(report: RedriveReport) -> None:
            bar.update(
                task,
                completed=report.scanned,
                total=max(total, report.scanned),
                description=f"redriven {report.moved}, scanned",
            )

        return await run(update)


async def with_move_progress(statuses: AsyncIterator[MoveTaskStatus]) -> MoveTaskStatus:
    last: MoveTaskStatus | None = None
    with _progress() as bar:
        task = bar.add_task("moved", total=None)
        async for status in statuses:
            bar.update(task, completed=status.moved, total=status.to_move)
            last = status
    assert last is not None
    return last
