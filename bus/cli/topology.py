"""``bus plan``, ``bus apply`` and ``bus graph``: the topology against AWS, and as a picture."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from bus.aws import AwsClients
from bus.cli.options import EndpointOpt, EnvOpt, ProfileOpt, RegionOpt, TopologyOpt, make_settings
from bus.cli.output import out
from bus.cli.prompt import confirm
from bus.errors import PlanError
from bus.settings import DEFAULT_TOPOLOGY, Settings
from bus.topology.apply import apply as apply_plan
from bus.topology.apply import make_plan
from bus.topology.graph import FORMATS, Format, render
from bus.topology.load import load_topology
from bus.topology.model import Topology
from bus.topology.plan import Create, Delete, Plan, ReplaceRequired, Update

EXIT_CHANGES = 2
"""``bus plan --detailed-exitcode``: the plan has changes (0: none; 1, 3, 4: errors)."""

PruneOpt = Annotated[
    bool,
    typer.Option(
        "--prune",
        help="Also delete resources bus created for this topology and env, no longer declared.",
    ),
]

_STYLES: dict[type, str] = {
    Create: "green",
    Update: "yellow",
    Delete: "red",
    ReplaceRequired: "bold red",
}


def load(settings: Settings) -> Topology:
    return load_topology(settings.topology_path, env=settings.env)


def print_plan(plan: Plan) -> None:
    """One line per change, then the summary line."""
    for change in plan.changes:
        out.print(str(change), style=_STYLES[type(change)], markup=False, emoji=False)
    out.print(plan.summary(), markup=False, emoji=False)


def plan(
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    env: EnvOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    prune: PruneOpt = False,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode",
            help="Exit 0 when there is nothing to do, 2 when there are changes.",
        ),
    ] = False,
) -> None:
    """Show what `bus apply` would change: one line per change and a summary (exit 3 when it
    holds a change `bus apply` would refuse)."""
    settings = make_settings(topology, env, endpoint_url, region, profile)
    result = asyncio.run(_plan(settings, load(settings), prune))
    print_plan(result)
    if result.refused:
        raise PlanError(result.explain_refusal())  # exit 3, whatever --detailed-exitcode says
    if detailed_exitcode and not result.is_empty:
        raise typer.Exit(EXIT_CHANGES)


async def _plan(settings: Settings, topology: Topology, prune: bool) -> Plan:
    async with AwsClients(settings) as aws:
        return await make_plan(aws, topology, settings.env, prune=prune)


def apply(
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    env: EnvOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    prune: PruneOpt = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
) -> None:
    """Make AWS match the topology: print the plan, then carry it out (asks first on a terminal)."""
    settings = make_settings(topology, env, endpoint_url, region, profile)
    done = asyncio.run(_apply(settings, load(settings), prune, lambda p: _confirm(p, yes)))
    if done is not None and not done.is_empty:
        out.print(f"Applied. {_done(done)}", markup=False, emoji=False)


async def _apply(
    settings: Settings, topology: Topology, prune: bool, ask: Callable[[Plan], None]
) -> Plan | None:
    async with AwsClients(settings) as aws:
        changes = await make_plan(aws, topology, settings.env, prune=prune)
        print_plan(changes)
        if changes.is_empty:
            return changes
        if changes.refused:
            raise PlanError(changes.explain_refusal())
        ask(changes)
        await apply_plan(aws, changes)
        return changes


def _confirm(changes: Plan, yes: bool) -> None:
    count = len(changes.changes)
    confirm(f"Apply {count} change{'s' if count != 1 else ''}?", yes)


def _done(changes: Plan) -> str:
    return (
        f"{changes.count(Create)} created, {changes.count(Update)} updated, "
        f"{changes.count(Delete)} deleted."
    )


def graph(
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    env: EnvOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help=f"Output format: {' or '.join(FORMATS)}.")
    ] = "mermaid",
) -> None:
    """Draw the topology (topics, queues, DLQs, subscriptions, buses, rules) as Mermaid or DOT."""
    if fmt not in FORMATS:
        raise typer.BadParameter(
            f"{fmt!r} is not one of {', '.join(FORMATS)}", param_hint="--format"
        )
    chosen: Format = "dot" if fmt == "dot" else "mermaid"
    typer.echo(render(load_topology(Path(topology), env=env), chosen, env), nl=False)


def register(app: typer.Typer) -> None:
    """Add ``plan``, ``apply`` and ``graph`` to the ``bus`` command."""
    app.command()(plan)
    app.command()(apply)
    app.command()(graph)
