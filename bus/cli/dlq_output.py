"""How ``bus dlq`` prints: the DLQ table, decoded dead letters, progress bars and reports."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bus.cli.output import err, out
from bus.dlq import DeadLetter, MoveTaskStatus, QueueSummary, RedriveReport, ReplayReport
from bus.dlq.letter import format_time

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


def summaries_table(summaries: Sequence[QueueSummary], now: datetime) -> None:
    table = Table(title="Dead-letter queues", title_justify="left")
    table.add_column("DLQ", overflow="fold")
    table.add_column("serves", overflow="fold")
    table.add_column("depth", justify="right")
    table.add_column("oldest")
    table.add_column("top reasons")
    for s in summaries:
        reasons = ", ".join(f"{r} {n}" for r, n in s.reasons[:3]) or "-"
        if s.sampled and s.sampled < s.depth:
            reasons += f" (of {s.sampled} sampled)"
        depth = str(s.depth) + (f" ({s.in_flight} in flight)" if s.in_flight else "")
        table.add_row(
            s.queue.name,
            ", ".join(q.name for q in s.sources),
            depth,
            age(s.oldest_age(now)),
            reasons,
        )
    out.print(table)


def _body(letter: DeadLetter, full: bool) -> str:
    if letter.envelope is not None and letter.wrapper == "raw":
        text = json.dumps(letter.envelope, indent=2, ensure_ascii=False)
    else:
        try:
            text = json.dumps(json.loads(letter.body), indent=2, ensure_ascii=False)
        except ValueError:
            text = letter.body
    if full:
        return text
    lines = text.splitlines()
    cut = "\n".join(lines[:BODY_LINES])[:BODY_CHARS]
    if cut != text:
        cut += f"\n... ({len(text) - len(cut)} more characters; --full shows all)"
    return cut


def letters(found: Sequence[DeadLetter], *, full: bool) -> None:
    if not found:
        out.print("No messages (none visible, or none selected).", markup=False)
        return
    for letter in found:
        f = letter.failure
        kind = f"{letter.event_type or '?'} v{letter.event_version or '?'}"
        out.rule(f"{letter.message_id}  {kind}", align="left")
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
        if letter.decode_error:
            rows.append(("decode", letter.decode_error))
        for name, value in rows:
            out.print(f"  {name:<13} {value}", markup=False, highlight=False)
        out.print(f"  body ({letter.wrapper}):", markup=False)
        out.print(_body(letter, full), markup=False)


def redrive_report(report: RedriveReport) -> None:
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
    if report.held_back:
        err.print(
            f"{report.held_back} held back: an earlier message of their FIFO group failed.",
            markup=False,
        )
    for message_id, reason in sorted(report.failed.items()):
        err.print(f"stays in the DLQ: {message_id}: {reason}", markup=False)
    for message_id, reason in sorted(report.not_deleted.items()):
        err.print(
            f"sent but not deleted (now in both queues): {message_id}: {reason}", markup=False
        )


def replay_report(report: ReplayReport) -> None:
    where = ", ".join(f"{n} to {q}" for q, n in report.destinations.items())
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
