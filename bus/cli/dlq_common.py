"""What the ``bus dlq`` commands share: their options, running their AWS work, loading the
topology they may name, and the selection options as one ``Selection``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from bus import dlq
from bus.aws import AwsClients
from bus.cli.output import err
from bus.settings import DEFAULT_TOPOLOGY, Settings
from bus.topology.load import load_topology
from bus.topology.model import Topology

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


def run(settings: Settings, work: Callable[[AwsClients], Awaitable[T]]) -> T:
    async def main() -> T:
        async with AwsClients(settings) as aws:
            return await work(aws)

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        err.print("Interrupted.", markup=False)
        raise typer.Exit(130) from None


def topology(settings: Settings, *, required: bool) -> Topology | None:
    path = settings.topology_path
    if not required and path == DEFAULT_TOPOLOGY and not path.exists():
        return None
    return load_topology(path, env=settings.env)


def selection(
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
