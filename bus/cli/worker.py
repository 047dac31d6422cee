"""``bus worker``: run the topology's handlers against their queues until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import os
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import structlog
import typer

from bus.aws import AwsClients
from bus.cli.options import EndpointOpt, EnvOpt, ProfileOpt, RegionOpt, TopologyOpt, make_settings
from bus.errors import SettingsError
from bus.health import HttpServer, Route, health_routes
from bus.logging import configure_logging
from bus.settings import DEFAULT_TOPOLOGY
from bus.topology.load import load_topology
from bus.worker import Worker, WorkerOptions
from bus.worker.shutdown import install_stop_signals

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from bus.otel.instrument import Instrumentation
    from bus.otel.metrics import Metrics
    from bus.otel.prometheus import PrometheusReader

TRACE_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
"""Variables that may ask for traces (``bus.otel.instrument.traces_configured`` decides)."""

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
BlockedAfterOpt = Annotated[
    float,
    typer.Option(
        "--blocked-after",
        min=0,
        metavar="SECONDS",
        help="Warn when the event loop has not run for this long (a handler calling blocking "
        "code: time.sleep, sync requests or boto3), naming the blocking file and line, and again "
        "when it runs; 0: off.",
    ),
]
LogLevelOpt = Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")]
JsonLogsOpt = Annotated[
    bool | None,
    typer.Option(
        "--json-logs/--console-logs", help="Log format.", show_default="JSON unless on a terminal"
    ),
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
MetricsPortOpt = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        min=0,
        max=65535,
        help="Serve Prometheus metrics on this port (/metrics; needs the otel extra).",
    ),
]
MetricsHostOpt = Annotated[
    str, typer.Option("--metrics-host", help="Address the metrics endpoint listens on.")
]
HealthPortOpt = Annotated[
    int | None,
    typer.Option(
        "--health-port",
        min=0,
        max=65535,
        help="Serve /healthz (the process answers) and /readyz (every queue receiving, not "
        "stopping) on this port.",
    ),
]
HealthHostOpt = Annotated[
    str,
    typer.Option(
        "--health-host", help="Address the health endpoint listens on (0.0.0.0 for pod probes)."
    ),
]


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


@dataclass(frozen=True)
class Probes:
    """What ``bus worker`` serves over HTTP beside its work: health, and metrics."""

    health: Endpoint | None = None
    metrics: Endpoint | None = None
    reader: PrometheusReader | None = None
    """The reader ``/metrics`` renders (set when ``metrics`` is)."""


async def _listen(routes: dict[str, Route], where: Endpoint, what: str) -> HttpServer:
    try:
        server = await HttpServer.start(routes, where.host, where.port)
    except OSError as exc:
        raise SettingsError(f"cannot serve {what} on {where.host}:{where.port}: {exc}") from exc
    paths = sorted(routes)
    structlog.get_logger("bus.worker").info(
        f"serving {what}", host=where.host, port=server.port, paths=paths
    )
    return server


async def _servers(worker: Worker, probes: Probes) -> list[HttpServer]:
    servers: list[HttpServer] = []
    if probes.health is not None:
        routes = health_routes(worker.readiness)
        servers.append(await _listen(routes, probes.health, "health"))
    if probes.metrics is not None and probes.reader is not None:
        servers.append(await _listen(probes.reader.routes(), probes.metrics, "metrics"))
    return servers


async def serve(
    aws: AwsClients, worker: Worker, probes: Probes | None = None, relay_url: str | None = None
) -> None:
    """Connect and start ``worker``, then run it until SIGTERM/SIGINT (a second signal exits at
    once) or until a queue cannot be received from for good (the queue was deleted, access is
    denied: ``FatalReceiveError``, exit code 4). Until it has started, Ctrl-C interrupts at once (KeyboardInterrupt): there is nothing
    in flight to finish yet. With ``relay_url`` the outbox relay runs beside it, and stops after
    it (``bus.outbox.beside``)."""
    servers = await _servers(worker, probes or Probes())  # /readyz: "starting" until started
    try:
        async with aws:
            await worker.start()
            stop = asyncio.Event()
            restore = install_stop_signals(stop)
            try:
                async with _relay(worker, relay_url):
                    await worker.serve(stop)  # raises FatalReceiveError (exit 4) once stopped
            finally:
                restore()
    finally:
        for server in servers:
            await server.close()


def _relay(worker: Worker, url: str | None) -> AbstractAsyncContextManager[object]:
    if url is None:
        return nullcontext()
    from bus.outbox.beside import relay_beside  # the sqlalchemy extra, checked at start-up

    return relay_beside(worker, url)


def _require_outbox(url: str) -> None:
    """The relay's extra and URL, checked before anything starts."""
    try:
        from bus.outbox.database import async_url
    except ModuleNotFoundError:
        raise SettingsError(
            "--outbox-relay needs SQLAlchemy 2: pip install 'bus-framework[sqlalchemy]'"
        ) from None
    async_url(url)  # SettingsError for a malformed URL


def _metrics(port: int | None, service: str) -> tuple[Metrics | None, PrometheusReader | None]:
    """The metrics middleware and Prometheus reader ``--metrics-port`` and the
    ``OTEL_EXPORTER_OTLP_*`` variables ask for (None, None: neither does)."""
    wanted = port is not None or any(
        os.environ.get(name)
        for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    )
    if not wanted:
        return None, None
    try:
        from bus.otel.metrics import Metrics, meter_provider, otlp_configured
        from bus.otel.prometheus import PrometheusReader
    except ImportError as exc:
        if port is None:  # OTLP variables set for something else: no metrics from bus
            return None, None
        raise SettingsError(
            f"--metrics-port needs OpenTelemetry: pip install 'bus-framework[otel]' ({exc})"
        ) from exc
    if port is None and not otlp_configured(os.environ):
        return None, None
    reader = PrometheusReader() if port is not None else None
    provider = meter_provider(*([reader] if reader else []), service=service)
    return Metrics(provider), reader


def _traces(service: str) -> tuple[Instrumentation | None, TracerProvider | None]:
    """The tracing middlewares (and their provider) the ``OTEL_EXPORTER_OTLP_*`` variables ask
    for; none without them, or without the otel extra (the variables may be for another part of
    the process)."""
    if not any(os.environ.get(name) for name in TRACE_VARIABLES):
        return None, None
    try:
        from bus.otel.instrument import traces_from_environment
    except ImportError:
        return None, None
    made = traces_from_environment(service)
    return (None, None) if made is None else made


def worker(
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    queue: QueueOpt = None,
    concurrency: ConcurrencyOpt = None,
    grace: GraceOpt = 30.0,
    wait_seconds: WaitOpt = 20,
    blocked_after: BlockedAfterOpt = 1.0,
    env: EnvOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    log_level: LogLevelOpt = "INFO",
    json_logs: JsonLogsOpt = None,
    metrics_port: MetricsPortOpt = None,
    metrics_host: MetricsHostOpt = "127.0.0.1",
    health_port: HealthPortOpt = None,
    health_host: HealthHostOpt = "127.0.0.1",
    outbox_relay: RelayOpt = None,
) -> None:
    """Consume the topology's handler queues: decode, validate, handle, retry, dead-letter.

    SIGTERM or Ctrl-C stops polling and lets in-flight handlers finish (up to --grace seconds);
    a second signal exits at once. Nothing is lost either way: what was not handled comes back.
    Ctrl-C while starting (importing handlers, connecting) exits at once with code 130.

    --health-port serves /healthz and /readyz for probes; --metrics-port serves Prometheus
    metrics; OTEL_EXPORTER_OTLP_ENDPOINT (and the other standard variables) exports metrics and
    traces by OTLP (with the otel extra).

    --outbox-relay relays a database's transactional outbox in this process too.

    --blocked-after (1 s by default) names the code that blocks the event loop, while it does.
    """
    settings = make_settings(topology, env, endpoint_url, region, profile)
    configure_logging(log_level, json=json_logs)
    options = WorkerOptions(
        queues=tuple(queue or ()),
        concurrency=concurrency,
        shutdown_grace=grace,
        wait_seconds=wait_seconds,
        freeze_startup=True,  # a process of its own: its start-up heap lives until it exits
        blocked_after=blocked_after or None,
    )
    if outbox_relay is not None:
        _require_outbox(outbox_relay)
    try:
        loaded = load_topology(settings.topology_path, env=settings.env)
        metrics, reader = _metrics(metrics_port, loaded.name)
        traces, provider = _traces(loaded.name)
        consume = [*(traces.consume if traces else ()), *([metrics] if metrics else [])]
        publish = [*(traces.publish if traces else ()), *([metrics] if metrics else [])]
        aws = AwsClients(settings)
        running = Worker(  # imports the handlers
            aws,
            loaded,
            env=settings.env,
            base_dir=Path(settings.topology_path).resolve().parent,
            options=options,
            middleware=consume,
            publish_middleware=publish,
        )
        probes = Probes(
            health=Endpoint(health_host, health_port) if health_port is not None else None,
            metrics=Endpoint(metrics_host, metrics_port) if metrics_port is not None else None,
            reader=reader,
        )
        try:
            asyncio.run(serve(aws, running, probes, outbox_relay))
        finally:
            if provider is not None:
                provider.shutdown()  # the spans still batched go out
    except KeyboardInterrupt:  # Ctrl-C while starting: nothing was received yet
        raise typer.Exit(130) from None
