"""``bus worker``: run the topology's handlers against their queues until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager, nullcontext
from pathlib import Path
from typing import Annotated

import typer

from bus.aws import AwsClients
from bus.cli.options import EndpointOpt, EnvOpt, ProfileOpt, RegionOpt, TopologyOpt, make_settings
from bus.errors import SettingsError
from bus.logging import configure_logging
from bus.settings import DEFAULT_TOPOLOGY
from bus.topology.load import load_topology
from bus.worker import Worker, WorkerOptions
from bus.worker.shutdown import install_stop_signals

QueueOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--queue", "-q", help="Consume only this queue (logical name); repeat for several."
    ),
]
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option(
        "--concurrency",
        "-c",
        min=1,
        help="Handlers running at once in this process, all queues together "
        "(default: only each queue's own concurrency limits).",
    ),
]
GraceOpt = Annotated[
    float,
    typer.Option("--grace", min=0, help="Seconds in-flight handlers get to finish on SIGTERM."),
]
WaitOpt = Annotated[
    int, typer.Option("--wait-seconds", min=0, max=20, help="Long-poll wait of each receive.")
]
RelayOpt = Annotated[
    str | None,
    typer.Option(
        "--outbox-relay",
        metavar="DATABASE_URL",
        help="Also relay this database's transactional outbox (bus outbox relay) in this "
        "process, stopped with the worker; needs the sqlalchemy extra.",
    ),
]
LogLevelOpt = Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")]
JsonLogsOpt = Annotated[
    bool | None,
    typer.Option(
        "--json-logs/--console-logs", help="Log format [default: JSON unless on a terminal]."
    ),
]


async def serve(aws: AwsClients, worker: Worker, relay_url: str | None = None) -> None:
    """Connect and start ``worker``, then run it until SIGTERM/SIGINT (a second signal exits at
    once) or until a queue cannot be received from for good (the queue was deleted, access is
    denied: ``FatalReceiveError``, exit code 4). Until it has started, Ctrl-C interrupts at once (KeyboardInterrupt): there is nothing
    in flight to finish yet. With ``relay_url`` the outbox relay runs beside it, and stops after
    it (``bus.outbox.beside``)."""
    async with aws:
        await worker.start()
        stop = asyncio.Event()
        restore = install_stop_signals(stop)
        try:
            async with _relay(worker, relay_url):
                await worker.serve(stop)  # raises FatalReceiveError (exit 4) once stopped
        finally:
            restore()


def _relay(worker: Worker, url: str | None) -> AbstractAsyncContextManager[object]:
    if url is None:
        return nullcontext()
    from bus.outbox.beside import relay_beside  # the sqlalchemy extra, checked at start-up

    return relay_beside(worker, url)


def worker(
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    queue: QueueOpt = None,
    concurrency: ConcurrencyOpt = None,
    grace: GraceOpt = 30.0,
    wait_seconds: WaitOpt = 20,
    env: EnvOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    outbox_relay: RelayOpt = None,
    log_level: LogLevelOpt = "INFO",
    json_logs: JsonLogsOpt = None,
) -> None:
    """Consume the topology's handler queues: decode, validate, handle, retry, dead-letter.

    SIGTERM or Ctrl-C stops polling and lets in-flight handlers finish (up to --grace seconds);
    a second signal exits at once. Nothing is lost either way: what was not handled comes back.
    Ctrl-C while starting (importing handlers, connecting) exits at once with code 130.
    """
    settings = make_settings(topology, env, endpoint_url, region, profile)
    configure_logging(log_level, json=json_logs)
    options = WorkerOptions(
        queues=tuple(queue or ()),
        concurrency=concurrency,
        shutdown_grace=grace,
        wait_seconds=wait_seconds,
    )
    if outbox_relay is not None:
        _require_outbox(outbox_relay)
    try:
        loaded = load_topology(settings.topology_path, env=settings.env)
        aws = AwsClients(settings)
        running = Worker(  # imports the handlers
            aws,
            loaded,
            env=settings.env,
            base_dir=Path(settings.topology_path).resolve().parent,
            options=options,
        )
        asyncio.run(serve(aws, running, outbox_relay))
    except KeyboardInterrupt:  # Ctrl-C while starting: nothing was received yet
        raise typer.Exit(130) from None


def _require_outbox(url: str) -> None:
    """The relay's extra and URL, checked before anything starts."""
    try:
        from bus.outbox.database import async_url
    except ModuleNotFoundError:
        raise SettingsError(
            "--outbox-relay needs SQLAlchemy 2: pip install 'bus-framework[sqlalchemy]'"
        ) from None
    async_url(url)  # SettingsError for a malformed URL
