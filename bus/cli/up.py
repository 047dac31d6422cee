"""``bus up``: the main job. AWS (the embedded LocalStack unless an endpoint is given), the topology
applied, the plan and the graph printed; then it runs until Ctrl-C and stops what it started.

The steps are separate functions so that later features slot in between them:

1. ``load`` the topology (fails fast, before anything starts);
2. ``backend``: use ``AWS_ENDPOINT_URL``/``--endpoint-url``/``--no-emulator`` as given, or a
   LocalStack already recorded in ``.bus/emulator.json``, or start one (state in ``.bus/``);
3. ``provision``: ``converge`` the topology and print the plan that was carried out and the graph;
4. ``serve``: wait for Ctrl-C (or return at once with ``--once``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from bus import emulator as emu
from bus.aws import AwsClients
from bus.cli.options import EndpointOpt, EnvOpt, ProfileOpt, RegionOpt, TopologyOpt, make_settings
from bus.cli.output import err, out
from bus.cli.topology import load, print_plan
from bus.settings import DEFAULT_TOPOLOGY, Settings
from bus.topology.apply import converge
from bus.topology.graph import render
from bus.topology.model import Topology
from bus.topology.plan import Plan


def _log(line: str) -> None:
    err.print(line, markup=False, emoji=False)


@contextmanager
def backend(settings: Settings, *, no_emulator: bool, project_dir: Path) -> Iterator[Settings]:
    """Settings pointing at the AWS to use; an emulator started here is stopped on exit."""
    if settings.endpoint_url or no_emulator:
        yield settings
        return
    record = emu.record_path(project_dir)
    running = emu.load_record(record)
    if running is not None and emu.is_running(running):
        _log(f"using the running LocalStack (pid {running.pid}) on {running.endpoint}")
        with _environment(running):
            yield _pointing_at(settings, running)
        return
    instance = emu.start(state_dir=record.parent / "localstack", log=_log)
    try:
        emu.save_record(replace(instance, _process=None), record)
        _log(f"LocalStack is up (pid {instance.pid}) on {instance.endpoint}")
        with _environment(instance):
            yield _pointing_at(settings, instance)
    finally:
        emu.stop(instance)
        record.unlink(missing_ok=True)
        _log(f"stopped LocalStack (pid {instance.pid})")


def _pointing_at(settings: Settings, instance: emu.EmulatorInstance) -> Settings:
    return settings.model_copy(
        update={"endpoint_url": instance.endpoint, "region": instance.region}
    )


@contextmanager
def _environment(instance: emu.EmulatorInstance) -> Iterator[None]:
    """The emulator's endpoint and (any) credentials in ``os.environ``, for this process and the
    processes it starts; the previous values come back afterwards."""
    saved = {k: os.environ.get(k) for k in instance.env()}
    os.environ.update(instance.env())
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def _converge(settings: Settings, topology: Topology) -> Plan:
    async with AwsClients(settings) as aws:
        return await converge(aws, topology, settings.env)


def provision(settings: Settings, topology: Topology) -> Plan:
    """Apply the topology; print the plan carried out and the Mermaid graph."""
    done = asyncio.run(_converge(settings, topology))
    target = f"env {settings.env}" if settings.env else "no env prefix"
    out.print(
        f"Topology {topology.name} ({target}) at {settings.endpoint_url or 'AWS'}:", markup=False
    )
    print_plan(done)
    out.print("", markup=False)
    out.print("```mermaid", markup=False)
    out.print(render(topology, "mermaid", settings.env), markup=False, emoji=False, end="")
    out.print("```", markup=False)
    return done


def serve() -> None:
    """Block until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _log("running; press Ctrl-C to stop")
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def up(
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    env: EnvOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    no_emulator: Annotated[
        bool,
        typer.Option("--no-emulator", help="Use the standard AWS configuration; start nothing."),
    ] = False,
    once: Annotated[
        bool, typer.Option("--once", help="Exit after applying instead of running until Ctrl-C.")
    ] = False,
) -> None:
    """Start the embedded LocalStack (unless an endpoint is given), apply the topology, print the
    plan and the graph, and run until Ctrl-C."""
    settings = make_settings(topology, env, endpoint_url, region, profile)
    loaded = load(settings)
    with backend(settings, no_emulator=no_emulator, project_dir=Path.cwd()) as active:
        provision(active, loaded)
        if not once:
            serve()
