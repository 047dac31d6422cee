"""``bus dlq list|show|redrive|export|replay|purge``: parse, call ``bus.dlq``, print."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
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
from bus.cli.dlq_redrive import redrive
from bus.cli.options import (
    EndpointOpt,
    EnvOpt,
    JsonOpt,
    ProfileOpt,
    RegionOpt,
    TopologyOpt,
    make_settings,
)
from bus.cli.prompt import confirm
from bus.dlq.claims import with_payloads
from bus.dlq.inspect import DEFAULT_SAMPLE, PEEK_HOLD_SECONDS
from bus.dlq.purge import ensure_dead_letter_queue
from bus.dlq.queues import queue_depth
from bus.dlq.scan import DEFAULT_HOLD_SECONDS
from bus.schema.registry import Registry
from bus.settings import DEFAULT_TOPOLOGY

app = typer.Typer(
    help="Dead-letter queues: list, show, redrive, export, replay and purge, losing nothing.",
    no_args_is_help=True,
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
    """Every DLQ in the topology (of queues, SNS subscriptions and rule targets): depth, oldest
    message, what it serves, top reasons.

    Age and reasons come from a peek of a sample of each DLQ, which consumes nothing.
    """
    settings = make_settings(topology, env, endpoint_url, region, profile)
    topo = common.topology(settings, required=True)
    assert topo is not None
    summaries = common.run(
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
    topo = common.topology(settings, required=False)
    selection = common.selection(filter, types, reasons, event_ids, older_than, newer_than)

    async def work(aws: AwsClients) -> tuple[str, dlq.Peeked]:
        source = await dlq.Queues(aws, topo, settings.env).resolve(queue)
        found = await dlq.peek(aws, source.url, limit=limit, selection=selection, hold_seconds=hold)
        if full:  # claim-checked messages: their payloads from S3
            found = await with_payloads(aws, found, topo, settings.env)
        return source.name, found

    name, letters = common.run(settings, work)
    if as_json:
        show_out.write_json([dlq.to_record(d, name) for d in letters])
    else:
        show_out.letters(letters, full=full)
    show_out.unreached_warning(name, letters.unreached)


# -- redrive (bus.cli.dlq_redrive) ---------------------------------------------------------------

app.command()(redrive)


# -- export / replay ------------------------------------------------------------------------------


def _writable_file(path: Path) -> Path:
    """``--output``: a file that can be created or overwritten, checked before any message is
    received (a usage error naming it, not a traceback once the export has begun)."""
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a directory")
    folder = path.parent
    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise typer.BadParameter(f"cannot write {path}")
    return path


@app.command()
def export(
    queue: QueueArg,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The JSON Lines file to write.", callback=_writable_file
        ),
    ],
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

    Exits 1 when some messages of the queue could not be reached (in flight elsewhere; FIFO:
    behind held ones).
    """
    settings = make_settings(topology, env, endpoint_url, region, profile)
    topo = common.topology(settings, required=False)
    selection = common.selection(filter, types, reasons, event_ids, older_than, newer_than)
    report = common.run(
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
    file: Annotated[
        Path,
        typer.Argument(
            help="A file written by `bus dlq export`.", exists=True, dir_okay=False, readable=True
        ),
    ],
    to: Annotated[
        str | None,
        typer.Option("--to", help="Destination queue.", show_default="the source queues"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and say where; send nothing.")
    ] = False,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="Send records that are not bus envelopes as they were exported, byte for byte "
            "(body and message attributes; not validated) instead of refusing them.",
        ),
    ] = False,
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    env: EnvOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Validate every exported (possibly edited) message against its schema, then send them."""
    settings = make_settings(topology, env, endpoint_url, region, profile)
    topo = common.topology(settings, required=True)
    assert topo is not None
    registry = Registry.from_topology(topo, settings.topology_path.resolve().parent)
    report = common.run(
        settings,
        lambda aws: dlq.replay(
            aws,
            file,
            registry=registry,
            topology=topo,
            env=settings.env,
            to=to,
            dry_run=dry_run,
            raw=raw,
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
    any_queue: Annotated[
        bool,
        typer.Option(
            "--any-queue",
            help="Purge the queue even if it is not a dead-letter queue (no queue's redrive "
            "policy, SNS subscription or rule target sends to it): refused without this.",
        ),
    ] = False,
    hold: HoldOpt = DEFAULT_HOLD_SECONDS,
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    env: EnvOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Delete dead letters for good: all of them, or those a selection picks.

    Exits 1 when a selected message could not be deleted, or some were not reached (in flight
    elsewhere; FIFO: behind held ones); 3 when the queue is not a dead-letter queue (see
    --any-queue).
    """
    settings = make_settings(topology, env, endpoint_url, region, profile)
    topo = common.topology(settings, required=False)
    selection = common.selection(filter, types, reasons, event_ids, older_than, newer_than)

    async def work(aws: AwsClients) -> dlq.PurgeReport:
        queues = dlq.Queues(aws, topo, settings.env)
        source = await queues.resolve(queue)
        if not any_queue:  # before asking: a live queue named by mistake is refused at once
            await ensure_dead_letter_queue(queues, source)
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
            any_queue=True,  # checked above (unless --any-queue): not asked again
        )

    report = common.run(settings, work)
    if show_out.purge_report(report):
        raise typer.Exit(1)
