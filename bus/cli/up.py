"""``bus up``: the main job. AWS (the embedded LocalStack unless an endpoint is given), the topology
applied, the plan and the graph printed; then workers for every handler queue and a steady stream
of sample events, with a live table of what happened per queue, until Ctrl-C (or ``--duration``);
then it stops everything it started.

The steps are separate functions:

1. ``load`` the topology (fails fast, before anything starts);
2. ``backend``: use ``AWS_ENDPOINT_URL``/``--endpoint-url``/``--no-emulator`` as given, or a
   LocalStack already recorded in ``.bus/emulator.json``, or start one (state in ``.bus/``);
3. ``provision``: plan the topology, print the plan, apply it and print the graph; on an AWS that
   is not its own emulator (an endpoint given, ``--no-emulator``) it asks first, as ``bus apply``
   does (``--yes`` skips the question; without a terminal and ``--yes`` it refuses, exit 1);
4. ``serve``: run the workers and the sample traffic, show the table (nothing with ``--once``;
   only wait for Ctrl-C when the topology binds no handlers). Worker logs go to ``.bus/up.log``.

Ctrl-C stops the traffic, then the workers (gracefully), then the LocalStack it started; a second
Ctrl-C exits at once, but still stops that LocalStack first (``exit_now``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Protocol

import typer
from rich.live import Live
from rich.table import Table

from bus import emulator as emu
from bus.aws import AwsClients
from bus.cli.options import EndpointOpt, EnvOpt, ProfileOpt, RegionOpt, TopologyOpt, make_settings
from bus.cli.output import err, out
from bus.cli.prompt import confirm
from bus.cli.topology import load, print_plan
from bus.cli.trace import TRACES_FILE, print_flow, recording_traces
from bus.cli.traffic import DEFAULT_TRAFFIC, CountingPublisher, Traffic, TrafficStats, load_traffic
from bus.cli.up_outbox import start_outbox
from bus.errors import HandlerError
from bus.logging import configure_logging
from bus.settings import DEFAULT_TOPOLOGY, Settings
from bus.topology.apply import apply, make_plan
from bus.topology.graph import render
from bus.topology.model import Topology
from bus.topology.plan import Plan
from bus.worker import Stats, Worker, WorkerOptions, WorkerParts
from bus.worker.shutdown import install_stop_signals

EXIT_NOW_STOP_TIMEOUT = 5.0
"""Seconds a second Ctrl-C waits for the LocalStack ``bus up`` started to stop before exiting."""


def _log(line: str) -> None:
    err.print(line, markup=False, emoji=False)


@dataclass(frozen=True)
class Started:
    """The LocalStack this ``bus up`` started: stopped when it is done, however it ends."""

    instance: emu.EmulatorInstance
    record: Path

    def stop(self, timeout: float = 20.0) -> None:
        emu.stop(self.instance, timeout)
        self.record.unlink(missing_ok=True)
        _log(f"stopped LocalStack (pid {self.instance.pid})")


@dataclass(frozen=True)
class Backend:
    """The AWS to use, and the emulator started for it, if any. ``own`` when it is this project's
    emulator (started here, or recorded in ``.bus/emulator.json``): only then does ``bus up``
    apply the topology without asking."""

    settings: Settings
    started: Started | None = None
    own: bool = False


@contextmanager
def backend(settings: Settings, *, no_emulator: bool, project_dir: Path) -> Iterator[Backend]:
    """The AWS to use; an emulator started here is stopped on exit."""
    if settings.endpoint_url or no_emulator:
        yield Backend(settings)
        return
    record = emu.record_path(project_dir)
    running = emu.load_record(record)
    if running is not None and emu.is_running(running):
        _log(f"using the running LocalStack (pid {running.pid}) on {running.endpoint}")
        with emu.environment(running):
            yield Backend(_pointing_at(settings, running), own=True)
        return
    # Its own session: a Ctrl-C at the terminal reaches bus up (which stops the workers, then
    # LocalStack), not LocalStack directly in the middle of the workers' shutdown.
    instance = emu.start(state_dir=record.parent / "localstack", detach=True, log=_log)
    started = Started(instance, record)
    try:
        emu.save_record(replace(instance, _process=None), record)
        _log(f"LocalStack is up (pid {instance.pid}) on {instance.endpoint}")
        with emu.environment(instance):
            yield Backend(_pointing_at(settings, instance), started, own=True)
    finally:
        started.stop()


def exit_now(
    started: Started | None, exit_process: Callable[[int], None] = os._exit
) -> Callable[[int], None]:
    """What a second Ctrl-C does: stop the LocalStack ``bus up`` started (it runs in its own
    session, so nothing else would), then exit at once with ``code``."""

    def now(code: int) -> None:
        try:
            if started is not None:
                started.stop(EXIT_NOW_STOP_TIMEOUT)
        finally:
            exit_process(code)

    return now


def _pointing_at(settings: Settings, instance: emu.EmulatorInstance) -> Settings:
    return settings.model_copy(
        update={"endpoint_url": instance.endpoint, "region": instance.region}
    )


Ask = Callable[[Plan], None]


async def _converge(settings: Settings, topology: Topology, ask: Ask | None) -> Plan:
    async with AwsClients(settings) as aws:
        changes = await make_plan(aws, topology, settings.env)
        target = f"env {settings.env}" if settings.env else "no env prefix"
        out.print(
            f"Topology {topology.name} ({target}) at {settings.endpoint_url or 'AWS'}:",
            markup=False,
        )
        print_plan(changes)
        if ask is not None and not changes.is_empty and not changes.refused:
            ask(changes)
        await apply(aws, changes)
        return changes


def asking(settings: Settings, yes: bool) -> Ask:
    """Ask before applying to an AWS that is not ``bus up``'s own emulator, as ``bus apply``
    does: on a terminal; without one, refuse (exit 1) unless ``--yes``."""

    def ask(changes: Plan) -> None:
        count = len(changes.changes)
        where = settings.endpoint_url or "AWS (the standard AWS configuration)"
        confirm(
            f"{where} is not bus up's own emulator. Apply {count} "
            f"change{'s' if count != 1 else ''} there?",
            yes,
        )

    return ask


def provision(settings: Settings, topology: Topology, ask: Ask | None = None) -> Plan:
    """Print the plan, ask (``ask``, when given and there are changes), apply it, then print the
    Mermaid graph."""
    done = asyncio.run(_converge(settings, topology, ask))
    out.print("", markup=False)
    out.print("```mermaid", markup=False)
    out.print(render(topology, "mermaid", settings.env), markup=False, emoji=False, end="")
    out.print("```", markup=False)
    return done


def wait_for_stop() -> None:
    """Block until Ctrl-C or SIGTERM (a topology without handlers has nothing to run)."""
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


@dataclass(frozen=True)
class Run:
    """What ``serve`` runs: the application's sample traffic (``module:function``, see
    ``bus.cli.traffic``), for how long, where the logs go."""

    base_dir: Path
    log_path: Path
    duration: float | None = None
    rate: float = 5.0
    traffic: str | None = DEFAULT_TRAFFIC
    traces_path: Path | None = None
    """Where the spans of the run are recorded (JSON lines; ``bus trace``); None: not at all."""


def serve(
    settings: Settings,
    topology: Topology,
    run: Run,
    on_second_signal: Callable[[int], None] = os._exit,
) -> None:
    """Workers for every handler queue plus sample traffic, shown live, until stopped; a second
    signal calls ``on_second_signal(128 + signal)``."""
    if not topology.handlers:
        wait_for_stop()
        return
    run.log_path.parent.mkdir(parents=True, exist_ok=True)
    with run.log_path.open("a") as log_file:
        configure_logging("INFO", json=True, stream=log_file)
        _log(f"workers and sample traffic running; logs in {run.log_path}; press Ctrl-C to stop")
        stats, traffic = asyncio.run(_serve(settings, topology, run, on_second_signal))
    total = stats.total()
    out.line()
    out.print(
        f"stopped: {traffic.published} events published; {total.processed} processed, "
        f"{total.retried} retried, {total.dead_lettered} dead-lettered",
        markup=False,
    )
    if run.traces_path is not None and print_flow(run.traces_path):
        _log(f"one order's flow above; any event's: bus trace EVENT_ID ({run.traces_path})")


def _traffic(run: Run) -> Traffic | None:
    if not run.traffic:
        return None
    try:
        return load_traffic(run.traffic, run.base_dir)
    except HandlerError as exc:
        _log(f"no sample traffic: {exc}")
        return None


async def _serve(
    settings: Settings, topology: Topology, run: Run, on_second_signal: Callable[[int], None]
) -> tuple[Stats, TrafficStats]:
    stop = asyncio.Event()
    restore = install_stop_signals(stop, exit_now=on_second_signal)
    stats, traffic = Stats(), TrafficStats()
    try:
        async with AwsClients(settings) as aws:
            with recording_traces(run.traces_path) as (consume, publish):
                worker = Worker(
                    aws,
                    topology,
                    env=settings.env,
                    base_dir=run.base_dir,
                    options=WorkerOptions(wait_seconds=5, shutdown_grace=10),
                    parts=WorkerParts(stats=stats),
                    middleware=consume,
                    publish_middleware=publish,
                )
                await _run(worker, run, settings, stats, traffic, stop)
    finally:
        restore()
    return stats, traffic


async def _run(
    worker: Worker,
    run: Run,
    settings: Settings,
    stats: Stats,
    traffic: TrafficStats,
    stop: asyncio.Event,
) -> None:
    """Start ``worker``, the outbox relay and the sample traffic, show the table until stopped,
    wind down."""
    await worker.start()
    sample = _traffic(run)
    relay = await start_outbox(sample, worker, settings, run.log_path.parent, traffic, _log)
    sending = None
    if sample is not None and worker.publisher is not None:
        counting = CountingPublisher(worker.publisher, traffic)
        sending = asyncio.create_task(sample(counting, stop, run.rate))
    with Live(table(stats, traffic), console=out, refresh_per_second=4) as live:
        try:
            await _show(live, stats, traffic, stop, run.duration)
        finally:
            try:
                await wind_down(stop, sending, worker, relay)
            finally:
                live.update(table(stats, traffic, final=True))


class _Stoppable(Protocol):
    async def stop(self) -> None: ...


async def wind_down(
    stop: asyncio.Event,
    sending: asyncio.Task[None] | None,
    worker: _Stoppable,
    relay: _Stoppable | None = None,
) -> None:
    """Stop the sample traffic, then the worker gracefully, then the outbox relay, whatever the
    traffic task raised (that error then propagates)."""
    stop.set()
    try:
        if sending is not None:
            await sending
    finally:
        try:
            await worker.stop()
        finally:
            if relay is not None:
                await relay.stop()


async def _show(
    live: Live, stats: Stats, traffic: TrafficStats, stop: asyncio.Event, duration: float | None
) -> None:
    """Refresh the table until stopped or ``duration`` seconds have passed."""
    loop = asyncio.get_running_loop()
    until = None if duration is None else loop.time() + duration
    while not stop.is_set() and (until is None or loop.time() < until):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)
        live.update(table(stats, traffic))


def table(stats: Stats, traffic: TrafficStats, *, final: bool = False) -> Table:
    """Processed / retried / dead-lettered per queue."""
    unsent = traffic.refused + traffic.failed
    view = Table(
        title="bus up: messages per queue",
        caption=f"{traffic.published} sample events published"
        + (f", {unsent} not sent" if unsent else "")
        + ("" if final else " · Ctrl-C to stop"),
    )
    view.add_column("queue")
    for name in ("received", "processed", "retried", "dead-lettered", "in flight"):
        view.add_column(name, justify="right")
    for name, queue in sorted(stats.queues.items()):
        view.add_row(
            name,
            str(queue.received),
            str(queue.processed),
            str(queue.retried),
            str(queue.dead_lettered),
            str(queue.in_flight),
        )
    return view


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
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration", min=0, help="Run this many seconds, then stop (default: until Ctrl-C)."
        ),
    ] = None,
    rate: Annotated[
        float, typer.Option("--rate", min=0.1, help="Sample events published per second.")
    ] = 5.0,
    traffic: Annotated[
        str,
        typer.Option(
            "--traffic",
            help="The application's sample traffic: module:function (publisher, stop, rate).",
        ),
    ] = DEFAULT_TRAFFIC,
    no_traffic: Annotated[
        bool, typer.Option("--no-traffic", help="Run the workers without sample traffic.")
    ] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Apply without asking (it asks only when not on its own emulator)."
        ),
    ] = False,
) -> None:
    """Start the embedded LocalStack (unless an endpoint is given), apply the topology, print the
    plan and the graph, then run workers for every handler queue with sample traffic and a live
    table until Ctrl-C (or --duration); stop everything it started."""
    settings = make_settings(topology, env, endpoint_url, region, profile)
    loaded = load(settings)
    project = Path.cwd()
    run = Run(
        base_dir=Path(settings.topology_path).resolve().parent,
        log_path=project / ".bus" / "up.log",
        traces_path=project / TRACES_FILE,
        duration=duration,
        rate=rate,
        traffic=None if no_traffic else traffic,
    )
    with backend(settings, no_emulator=no_emulator, project_dir=project) as active:
        provision(active.settings, loaded, None if active.own else asking(active.settings, yes))
        if not once:
            serve(active.settings, loaded, run, exit_now(active.started))
