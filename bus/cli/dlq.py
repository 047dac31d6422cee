"""``bus dlq list|show|redrive|export|replay|purge``: parse, call ``bus.dlq``, print."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from bus import dlq
from bus.aws import AwsClients
from bus.cli import dlq_output as show_out
from bus.cli.options import (
    EndpointOpt,
    EnvOpt,
    JsonOpt,
    ProfileOpt,
    RegionOpt,
    TopologyOpt,
    make_settings,
)
from bus.cli.output import err, out
from bus.cli.prompt import confirm
from bus.dlq.claims import with_payloads
from bus.dlq.inspect import DEFAULT_SAMPLE, PEEK_HOLD_SECONDS
from bus.dlq.movetask import move_destination
from bus.dlq.queues import queue_depth
from bus.dlq.scan import DEFAULT_HOLD_SECONDS
from bus.errors import BusError
from bus.schema.registry import Registry
from bus.settings import DEFAULT_TOPOLOGY, Settings
from bus.topology.load import load_topology
from bus.topology.model import Topology

app = typer.Typer(
    help="Dead-letter queues: list, show, redrive, export, replay and purge, losing nothing.",
    no_args_is_help=True,
)
T = TypeVar("T")

QueueArg = Annotated[
    str,
    typer.Argument(help="The DLQ: its topology name, physical name, or URL.", show_default=False),
]
FilterOpt = Annotated[
    str | None,
    typer.Option(
        "--filter",
        "-f",
        help='Expression over the decoded message, e.g. \'type == "OrderPlaced" and '
        'data.total_cents > 1000 and failure.reason == "handler-error"\'.',
    ),
]
TypeOpt = Annotated[list[str] | None, typer.Option("--type", help="Event type (repeatable).")]
ReasonOpt = Annotated[
    list[str] | None,
    typer.Option("--reason", help="Failure reason, e.g. handler-error, max-receives (repeatable)."),
]
EventIdOpt = Annotated[list[str] | None, typer.Option("--event-id", help="Event id (repeatable).")]
OlderOpt = Annotated[
    str | None, typer.Option("--older-than", help="Died longer ago than this (90s, 15m, 2h, 7d).")
]
NewerOpt = Annotated[str | None, typer.Option("--newer-than", help="Died more recently than this.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking.")]
HoldOpt = Annotated[
    int,
    typer.Option(
        "--visibility-timeout",
        min=1,
        max=43_200,
        help="Seconds received messages stay hidden; they come back at once when the command "
        "ends, after this if it is killed.",
    ),
]


def _run(settings: Settings, work: Callable[[AwsClients], Awaitable[T]]) -> T:
    async def main() -> T:
        async with AwsClients(settings) as aws:
            return await work(aws)

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        err.print("Interrupted.", markup=False)
        raise typer.Exit(130) from None


def _topology(settings: Settings, *, required: bool) -> Topology | None:
    path = settings.topology_path
    if not required and path == DEFAULT_TOPOLOGY and not path.exists():
        return None
    return load_topology(path, env=settings.env)


def _selection(
    filter: str | None,
    types: list[str] | None,
    reasons: list[str] | None,
    ids: list[str] | None,
    older: str | None,
    newer: str | None,
) -> dlq.Selection:
    return dlq.Selection.build(
        filter,
        event_types=types or (),
        reasons=reasons or (),
        event_ids=ids or (),
        older_than=older,
        newer_than=newer,
    )


# -- list / show ----------------------------------------------------------------------------------


@app.command("list")
def list_(
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    env: EnvOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    sample: Annotated[
        int, typer.Option(min=0, help="Messages peeked per DLQ for age and reasons.")
    ] = DEFAULT_SAMPLE,
    hold: HoldOpt = PEEK_HOLD_SECONDS,
    as_json: JsonOpt = False,
) -> None:
    """Every DLQ of the topology: depth, oldest message, the queues it serves, top reasons.

    Age and reasons come from a peek of a sample of each DLQ, which consumes nothing.
    """
    settings = make_settings(topology, env, endpoint_url, region, profile)
    topo = _topology(settings, required=True)
    assert topo is not None
    summaries = _run(
        settings,
        lambda aws: dlq.list_queues(aws, topo, settings.env, sample=sample, hold_seconds=hold),
    )
    now = datetime.now(UTC)
    if as_json:
        show_out.write_json([s.to_json(now) for s in summaries])
    else:
        show_out.summaries_table(summaries, now)
    for summary in summaries:
        show_out.unreached_warning(summary.queue.name, summary.unreached)


@app.command()
def show(
    queue: QueueArg,
    limit: Annotated[
        int,
        typer.Option(min=1, help="Show at most this many messages (the first N received)."),
    ] = 10,
    full: Annotated[
        bool,
        typer.Option("--full", help="Do not truncate bodies; read claim-checked payloads from S3."),
    ] = False,
    as_json: JsonOpt = False,
    filter: FilterOpt = None,
    types: TypeOpt = None,
    reasons: ReasonOpt = None,
    event_ids: EventIdOpt = None,
    older_than: OlderOpt = None,
    newer_than: NewerOpt = None,
    hold: HoldOpt = PEEK_HOLD_SECONDS,
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    env: EnvOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Peek at dead letters without consuming them (each peek counts as a receive in SQS).

    Messages are shown oldest death first (FIFO queues: in queue order). With --limit N these are
    the first N (selected) that SQS handed out, sorted, not the N oldest of the queue: SQS returns
    messages in no particular order, and finding the oldest takes reading the whole queue (a large
    --limit).
    """
    settings = make_settings(topology, env, endpoint_url, region, profile)
    topo = _topology(settings, required=False)
    selection = _selection(filter, types, reasons, event_ids, older_than, newer_than)

    async def work(aws: AwsClients) -> tuple[str, dlq.Peeked]:
        source = await dlq.Queues(aws, topo, settings.env).resolve(queue)
        found = await dlq.peek(aws, source.url, limit=limit, selection=selection, hold_seconds=hold)
        if full:  # claim-checked messages: their payloads from S3
            found = await with_payloads(aws, found, topo)
        return source.name, found

    name, letters = _run(settings, work)
    if as_json:
        show_out.write_json([dlq.to_record(d, name) for d in letters])
    else:
        show_out.letters(letters, full=full)
    show_out.unreached_warning(name, letters.unreached)


# -- redrive --------------------------------------------------------------------------------------


@app.command()
def redrive(
    queue: QueueArg,
    to: Annotated[
        str | None, typer.Option("--to", help="Destination queue [default: the source queues].")
    ] = None,
    filter: FilterOpt = None,
    types: TypeOpt = None,
    reasons: ReasonOpt = None,
    event_ids: EventIdOpt = None,
    older_than: OlderOpt = None,
    newer_than: NewerOpt = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Redrive at most N messages.")] = None,
    rate: Annotated[int | None, typer.Option(min=1, help="At most N messages per second.")] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=50, help="Batches in flight (standard queues).")
    ] = 1,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would move; move nothing.")
    ] = False,
    yes: YesOpt = False,
    hold: HoldOpt = DEFAULT_HOLD_SECONDS,
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    env: EnvOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Put dead letters back: the whole queue with SQS's move task, a selection by copy-then-delete.

    Interrupted at any moment (Ctrl-C, kill -9), a redrive loses nothing; at most the batch in
    flight is delivered twice (once from the DLQ later). Exits 1 when a selected message was not
    moved, or (FIFO) some messages of the DLQ were not reached.
    """
    settings = make_settings(topology, env, endpoint_url, region, profile)
    topo = _topology(settings, required=False)
    selection = _selection(filter, types, reasons, event_ids, older_than, newer_than)
    options = dlq.RedriveOptions(
        to=to,
        selection=selection,
        limit=limit,
        rate=rate,
        dry_run=dry_run,
        concurrency=concurrency,
        hold_seconds=hold,
    )

    async def work(aws: AwsClients) -> dlq.RedriveReport | None:
        queues = dlq.Queues(aws, topo, settings.env)
        source = await queues.resolve(queue)
        destination, _ = await move_destination(queues, source, to)
        visible, in_flight = await queue_depth(aws, source)
        whole = selection.everything and limit is None and destination is not None
        where = destination.name if destination else "the queue each message failed in"
        if dry_run:
            if whole:
                out.print(
                    f"Would move about {visible} messages from {source.name} to {where} "
                    "with SQS's message move task.",
                    markup=False,
                )
                return None
            return await dlq.redrive_selected(
                aws, queue, topology=topo, env=settings.env, options=options
            )
        what = "every message" if selection.everything else f"messages where {selection.describe()}"
        if limit is not None:
            what = f"at most {limit} {what}"
        confirm(f"Redrive {what} (about {visible} in {source.name}) to {where}?", yes)
        if whole:
            assert destination is not None
            run = dlq.MoveTaskRun(
                aws,
                queue,
                topology=topo,
                env=settings.env,
                to=destination.url,
                rate=rate,
                keep_running=_keep_running,
            )
            await _move_whole_queue(run)
            return None
        return await show_out.with_redrive_progress(
            visible + in_flight,
            lambda progress: dlq.redrive_selected(
                aws, queue, topology=topo, env=settings.env, options=options, progress=progress
            ),
        )

    report = _run(settings, work)
    if report is not None and show_out.redrive_report(report):
        raise typer.Exit(1)


def _keep_running(exc: BaseException) -> bool:
    """On Ctrl-C at a terminal, ask whether to leave the move task running; otherwise cancel it."""
    if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt) and sys.stdin.isatty():
        return not typer.confirm("\nCancel the move task?", default=True)
    return False


async def _move_whole_queue(run: dlq.MoveTaskRun) -> None:
    """Start the move task and follow it: one guarded unit, so that an interruption at any point
    after SQS may have started the task cancels it (``MoveTaskRun``)."""
    try:
        async with run:
            task = run.task
            assert task is not None
            out.print(
                f"Moving {task.source.name} -> {task.destination.name} (move task started)",
                markup=False,
            )
            status = await show_out.with_move_progress(run.follow())
    except BaseException:
        _say_what_became_of(run)
        raise
    if status.status != "COMPLETED":
        raise BusError(
            f"move task {status.status.lower()} after {status.moved} messages"
            + (f": {status.failure_reason}" if status.failure_reason else "")
        )
    out.print(f"Moved {status.moved} messages to {task.destination.name}.", markup=False)


def _say_what_became_of(run: dlq.MoveTaskRun) -> None:
    task = run.task
    if task is None or (run.last is not None and run.last.done):
        return  # nothing was started, or it had ended
    if run.cancelled is not None:
        err.print(
            f"Move task cancelled after about {run.cancelled} messages; the rest stay in "
            f"{task.source.name}.",
            markup=False,
        )
    elif run.cancel_failed:
        err.print(
            f"The move task of {task.source.name} could not be cancelled (it may have ended); "
            "see `bus dlq list`.",
            markup=False,
        )
    else:
        err.print("The move task goes on in SQS; follow it with `bus dlq list`.", markup=False)


# -- export / replay ------------------------------------------------------------------------------


@app.command()
def export(
    queue: QueueArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The JSON Lines file to write.")],
    filter: FilterOpt = None,
    types: TypeOpt = None,
    reasons: ReasonOpt = None,
    event_ids: EventIdOpt = None,
    older_than: OlderOpt = None,
    newer_than: NewerOpt = None,
    hold: HoldOpt = DEFAULT_HOLD_SECONDS,
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    env: EnvOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Write dead letters with their metadata to a JSON Lines file, deleting nothing.

    Exits 1 when (FIFO) some messages of the queue could not be reached.
    """
    settings = make_settings(topology, env, endpoint_url, region, profile)
    topo = _topology(settings, required=False)
    selection = _selection(filter, types, reasons, event_ids, older_than, newer_than)
    report = _run(
        settings,
        lambda aws: dlq.export(
            aws,
            queue,
            output,
            topology=topo,
            env=settings.env,
            selection=selection,
            hold_seconds=hold,
        ),
    )
    if show_out.export_report(report):
        raise typer.Exit(1)


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="A file written by `bus dlq export`.")],
    to: Annotated[
        str | None, typer.Option("--to", help="Destination queue [default: the source queues].")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and say where; send nothing.")
    ] = False,
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    env: EnvOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Validate every exported (possibly edited) message against its schema, then send them."""
    settings = make_settings(topology, env, endpoint_url, region, profile)
    topo = _topology(settings, required=True)
    assert topo is not None
    registry = Registry.from_topology(topo, settings.topology_path.resolve().parent)
    report = _run(
        settings,
        lambda aws: dlq.replay(
            aws, file, registry=registry, topology=topo, env=settings.env, to=to, dry_run=dry_run
        ),
    )
    show_out.replay_report(report)
    if report.failed:
        raise typer.Exit(1)


# -- purge ----------------------------------------------------------------------------------------


@app.command()
def purge(
    queue: QueueArg,
    filter: FilterOpt = None,
    types: TypeOpt = None,
    reasons: ReasonOpt = None,
    event_ids: EventIdOpt = None,
    older_than: OlderOpt = None,
    newer_than: NewerOpt = None,
    yes: YesOpt = False,
    hold: HoldOpt = DEFAULT_HOLD_SECONDS,
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    env: EnvOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Delete dead letters for good: all of them, or those a selection picks.

    Exits 1 when a selected message could not be deleted, or (FIFO) some were not reached.
    """
    settings = make_settings(topology, env, endpoint_url, region, profile)
    topo = _topology(settings, required=False)
    selection = _selection(filter, types, reasons, event_ids, older_than, newer_than)

    async def work(aws: AwsClients) -> dlq.PurgeReport:
        source = await dlq.Queues(aws, topo, settings.env).resolve(queue)
        visible, in_flight = await queue_depth(aws, source)
        what = "ALL messages" if selection.everything else f"messages where {selection.describe()}"
        confirm(f"Delete {what} of {source.name} (about {visible + in_flight} in it)?", yes)
        return await dlq.purge(
            aws,
            source.url,
            topology=topo,
            env=settings.env,
            selection=selection,
            hold_seconds=hold,
        )

    report = _run(settings, work)
    if show_out.purge_report(report):
        raise typer.Exit(1)
