"""``bus dlq redrive``: the whole queue with SQS's message move task, a selection by
copy-then-delete (``bus.dlq.movetask``, ``bus.dlq.redrive``); registered by ``bus.cli.dlq``."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from bus import dlq
from bus.aws import AwsClients
from bus.cli import dlq_common as common
from bus.cli import dlq_output as show_out
from bus.cli.dlq_common import (
    EventIdOpt,
    FilterOpt,
    HoldOpt,
    NewerOpt,
    OlderOpt,
    QueueArg,
    ReasonOpt,
    TypeOpt,
    YesOpt,
)
from bus.cli.options import EndpointOpt, EnvOpt, ProfileOpt, RegionOpt, TopologyOpt, make_settings
from bus.cli.output import err, out
from bus.cli.prompt import confirm
from bus.dlq.movetask import move_destination
from bus.dlq.queues import queue_depth
from bus.dlq.scan import DEFAULT_HOLD_SECONDS
from bus.errors import BusError
from bus.settings import DEFAULT_TOPOLOGY


def redrive(
    queue: QueueArg,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Destination queue.", show_default="the source queues"),
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
    moved, or some messages of the DLQ were not reached (in flight elsewhere, also after a move
    task; FIFO: behind held ones).
    """
    settings = make_settings(topology, env, endpoint_url, region, profile)
    topo = common.topology(settings, required=False)
    selection = common.selection(filter, types, reasons, event_ids, older_than, newer_than)
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
        destination, sources = await move_destination(queues, source, to)
        visible, in_flight = await queue_depth(aws, source)
        # SQS's move task moves only from a queue some SQS queue dead-letters into.
        whole = selection.everything and limit is None and destination is not None and sources
        if to is None:  # an SNS or EventBridge DLQ: its one queue, or refused before asking
            destination = await queues.served_destination(source) or destination
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
            _, held = await queue_depth(aws, source)
            if held:
                show_out.unreached_warning(source.name, held)
                raise typer.Exit(1)  # the move task moves only what it can receive
            return None
        return await show_out.with_redrive_progress(
            visible + in_flight,
            lambda progress: dlq.redrive_selected(
                aws, queue, topology=topo, env=settings.env, options=options, progress=progress
            ),
        )

    report = common.run(settings, work)
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
