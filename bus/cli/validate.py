"""``bus validate``: parse and check topology.yaml; print every problem as ``FILE:LINE:COL: message``."""

from __future__ import annotations

from bus.cli.options import EnvOpt, TopologyOpt, make_settings
from bus.cli.output import out
from bus.settings import DEFAULT_TOPOLOGY
from bus.topology.cloudevents import warnings_of
from bus.topology.load import load_topology
from bus.topology.model import Topology


def validate(topology: TopologyOpt = DEFAULT_TOPOLOGY, env: EnvOpt = None) -> None:
    """Check the topology file; print every problem as FILE:LINE:COL: message.

    Checks YAML syntax, keys, types, ranges, AWS names (with the env prefix), FIFO rules,
    references, dead letters, filter policies and event patterns, and reports all problems at
    once (exit code 3). A valid file prints a one-line summary, after any warnings (a rule whose
    pattern names a source or detail-type no declared event has).
    """
    settings = make_settings(topology=topology, env=env)
    loaded = load_topology(settings.topology_path, env=settings.env)
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
