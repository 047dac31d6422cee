"""``bus outbox init|relay|list|retry``: the transactional outbox's table and relay.

SQLAlchemy is imported by the commands, not by this module: ``bus`` runs without the
``sqlalchemy`` extra, and only these commands ask for it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from bus.cli.options import (
    EndpointOpt,
    EnvOpt,
    JsonOpt,
    ProfileOpt,
    RegionOpt,
    TopologyOpt,
    make_settings,
)
from bus.cli.output import out
from bus.errors import BusError, SettingsError
from bus.logging import configure_logging
from bus.settings import DEFAULT_TOPOLOGY

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

app = typer.Typer(
    help="Transactional outbox (SQLAlchemy): create the table, relay rows to AWS, parked rows.",
    no_args_is_help=True,
)

UrlOpt = Annotated[
    str,
    typer.Option(
        "--database-url",
        "-d",
        envvar="BUS_OUTBOX_URL",
        help="SQLAlchemy URL of the application's database (sqlite:///app.db, "
        "postgresql+psycopg://user@host/db).",
    ),
]


def _require_sqlalchemy() -> None:
    try:
        import sqlalchemy  # noqa: F401
    except ModuleNotFoundError:
        raise SettingsError(
            "the outbox needs SQLAlchemy 2: pip install 'bus-framework[sqlalchemy]'"
        ) from None


def _with_engine(url: str, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    _require_sqlalchemy()
    from sqlalchemy.exc import DBAPIError

    from bus.outbox.database import open_engine

    async def run() -> T:
        engine = open_engine(url)
        try:
            return await work(engine)
        except (DBAPIError, OSError) as exc:  # unreachable, refused, no such file or database
            where = engine.url.render_as_string(hide_password=True)
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            hint = " (create it: bus outbox init)" if await _lacks_table(engine) else ""
            raise BusError(f"database {where}: {reason}{hint}") from exc
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _lacks_table(engine: AsyncEngine) -> bool:
    """The database answers and has no outbox table (asked, not read from an error's words)."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import DBAPIError

    from bus.outbox.table import outbox_table

    def lacks(conn: Any) -> bool:
        return not inspect(conn).has_table(outbox_table.name, schema=outbox_table.schema)

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lacks)
    except (DBAPIError, OSError):  # not there at all: the error says so already
        return False


@app.command()
def init(
    database_url: UrlOpt,
    print_ddl: Annotated[
        bool,
        typer.Option("--print-ddl", help="Print the SQL (for a migration) instead of running it."),
    ] = False,
    inbox: Annotated[
        str | None,
        typer.Option(
            "--inbox",
            metavar="TABLE",
            help="Also the SQL inbox's table (idempotency store: sql), e.g. bus_inbox.",
        ),
    ] = None,
) -> None:
    """Create the outbox tables where they do not exist (and, on PostgreSQL, the NOTIFY trigger)."""
    _require_sqlalchemy()
    from bus.outbox import ops

    if print_ddl:
        out.print(ops.ddl(database_url, inbox), markup=False, end="")
        return
    _with_engine(database_url, lambda engine: ops.init(engine, inbox))
    out.print("outbox tables ready" + (f" (and {inbox})" if inbox else ""), markup=False)


@app.command()
def relay(
    database_url: UrlOpt,
    topology: TopologyOpt = DEFAULT_TOPOLOGY,
    env: EnvOpt = None,
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = None,
    profile: ProfileOpt = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=10_000)] = 100,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", min=0.01, help="Seconds between polls.")
    ] = 1.0,
    max_attempts: Annotated[
        int, typer.Option("--max-attempts", min=1, help="Sends failing at AWS before parking.")
    ] = 10,
    retention: Annotated[
        float, typer.Option("--retention", min=0, help="Seconds sent rows are kept (0: none).")
    ] = 86_400.0,
    lease: Annotated[
        float, typer.Option("--lease", min=1, help="Relay lease on SQLite, seconds.")
    ] = 30.0,
    once: Annotated[
        bool, typer.Option("--once", help="Publish what is due, then exit (cron, tests).")
    ] = False,
    log_level: Annotated[str, typer.Option("--log-level")] = "INFO",
) -> None:
    """Publish committed outbox rows until SIGTERM/SIGINT (several relays may run at once)."""
    _require_sqlalchemy()
    from bus.outbox import Relay, RelayOptions
    from bus.worker.shutdown import install_stop_signals

    configure_logging(log_level)
    settings = make_settings(topology, env, endpoint_url, region, profile)
    options = RelayOptions(
        batch_size=batch_size,
        poll_interval=poll_interval,
        max_attempts=max_attempts,
        retention=retention,
        lease=lease,
    )

    async def run() -> None:
        async with Relay.open(settings, database_url, options) as running:
            if once:
                total = await running.drain()
                out.print(
                    f"{total.sent} sent, {total.retried} to retry, {total.parked} parked",
                    markup=False,
                )
                return
            stop = asyncio.Event()
            restore = install_stop_signals(stop)
            try:
                await running.run(stop)
            finally:
                restore()

    asyncio.run(run())


@app.command("list")
def list_rows(
    database_url: UrlOpt,
    state: Annotated[str, typer.Option("--state", help="parked, pending or sent.")] = "parked",
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List outbox rows (parked ones by default, with their error), then the count per state."""
    _require_sqlalchemy()
    from bus.outbox import ops

    if state not in ("parked", "pending", "sent"):
        raise typer.BadParameter("--state must be parked, pending or sent")

    async def work(engine: AsyncEngine) -> tuple[list[ops.Entry], dict[str, int]]:
        return await ops.entries(engine, state, limit), await ops.counts(engine)

    rows, counts = _with_engine(database_url, work)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "rows": [{**r.__dict__, "created_at": r.created_at.isoformat()} for r in rows],
                    "counts": counts,
                }
            )
        )
        return
    for r in rows:
        group = f" group={r.group_id}" if r.group_id else ""
        line = f"{r.id} {r.state} {r.event_type} {r.event_id}{group} attempts={r.attempts}"
        out.print(line + (f": {r.error}" if r.error else ""), markup=False)
    out.print(", ".join(f"{n} {s}" for s, n in counts.items()), markup=False)


@app.command()
def retry(
    database_url: UrlOpt,
    ids: Annotated[
        list[int] | None, typer.Argument(help="Row ids (see `bus outbox list`).")
    ] = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Every parked row.")] = False,
) -> None:
    """Make parked rows pending again: the relay sends them at its next cycle."""
    _require_sqlalchemy()
    from bus.outbox import ops

    if bool(ids) == all_rows:
        raise typer.BadParameter("give row ids or --all (not both)")
    count = _with_engine(database_url, lambda engine: ops.retry(engine, ids or ()))
    out.print(f"{count} row{'s' if count != 1 else ''} pending again", markup=False)
