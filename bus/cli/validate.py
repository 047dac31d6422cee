"""``bus validate``: parse and check topology.yaml; print every problem as ``FILE:LINE:COL: message``."""

from __future__ import annotations

from typing import Annotated

import typer

from bus.cli.options import EnvOpt, TopologyOpt, make_settings
from bus.cli.output import out
from bus.errors import TopologyError
from bus.references import code_problems
from bus.settings import DEFAULT_TOPOLOGY
from bus.topology.cloudevents import warnings_of
from bus.topology.load import load_topology
from bus.topology.model import Topology


def validate(
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    env: EnvOpt = None,
    imports: Annotated[
        bool,
        typer.Option(
            "--imports",
            help="Also import the code the file names (models, upcasters, handlers, retry "
            "exceptions, middlewares, idempotency stores) as bus worker and the publisher do.",
        ),
    ] = False,
) -> None:
    """Check the topology file; print every problem as FILE:LINE:COL: message.

    Checks YAML syntax, keys, types, ranges, AWS names (with the env prefix), FIFO rules,
    references, dead letters, filter policies and event patterns, and reports all problems at
    once (exit code 3). A valid file prints a one-line summary, after any warnings (a rule whose
    pattern names a source or detail-type no declared event has).

    No code of the application runs unless --imports is given: then every package.module:name
    the file names is imported from the topology's folder and checked (a handler is an async
    function taking (event) or (event, ctx), its annotation fits the event's model; middleware
    and store factories are imported, not called), each failure at the line that names it.
    """
    settings = make_settings(topology=topology, env=env)
    loaded = load_topology(settings.topology_path, env=settings.env)
    if imports:
        problems = code_problems(settings.topology_path, loaded)
        if problems:
            raise TopologyError(problems)
    for warning in warnings_of(settings.topology_path, loaded):
        out.print(str(warning), markup=False, soft_wrap=True)
    out.print(f"{settings.topology_path}: valid: {summary(loaded)}", markup=False)


def summary(topology: Topology) -> str:
    """``2 topics, 9 queues (2 derived DLQs), 4 subscriptions, 1 bus, 1 rule, 5 events, 5 handlers``."""
    derived = len(topology.all_queues()) - len(topology.queues)
    parts = [
        _count(len(topology.topics), "topic"),
        _count(len(topology.all_queues()), "queue")
        + (f" ({_count(derived, 'derived DLQ')})" if derived else ""),
        _count(len(topology.subscriptions), "subscription"),
        _count(len(topology.buses), "bus", "buses"),
        _count(len(topology.rules), "rule"),
        _count(len(topology.events), "event"),
        _count(len(topology.handlers), "handler"),
    ]
    return ", ".join(parts)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"
