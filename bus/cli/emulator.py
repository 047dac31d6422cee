"""``bus emulator start|stop|status``: the embedded emulator for this project directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bus import emulator as emu
from bus.cli.output import err, out
from bus.errors import EmulatorError

app = typer.Typer(
    help="Install, start and stop the embedded emulator (LocalStack, ministack; no Docker).",
    no_args_is_help=True,
)

RecordOpt = Annotated[
    Path | None,
    typer.Option(
        "--record",
        help="Where the running emulator is recorded.",
        show_default=".bus/emulator.json",
    ),
]


def _exports(instance: emu.EmulatorInstance) -> str:
    return "\n".join(f"export {k}={v}" for k, v in instance.env().items())


def _name(instance: emu.EmulatorInstance) -> str:
    names = {"localstack": "LocalStack", "ministack": "ministack"}
    return " + ".join(names.get(p.backend, p.backend) for p in instance.processes())


def _pids(instance: emu.EmulatorInstance) -> str:
    return ", ".join(str(p.pid) for p in instance.processes())


@app.command()
def start(
    port: Annotated[
        int | None, typer.Option(help="Port on 127.0.0.1.", show_default="a free one")
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="State directory.", show_default=".bus/localstack")
    ] = None,
    record: RecordOpt = None,
    backend: Annotated[
        str,
        typer.Option(
            help="localstack (the reference; DynamoDB from a ministack beside it) or ministack "
            "(one process for every service; see docs/emulator.md for what it lacks)."
        ),
    ] = "localstack",
    services: Annotated[str, typer.Option(help="Comma-separated services to serve.")] = ",".join(
        emu.DEFAULT_SERVICES
    ),
) -> None:
    """Start the emulator in the background (installing it on first use) and print the
    `export` lines a shell needs (endpoints, region, credentials)."""
    path = record or emu.record_path()
    running = emu.load_record(path)
    if running is not None and emu.is_running(running):
        err.print(f"already running (pid {running.pid}) on {running.endpoint}", markup=False)
        out.print(_exports(running), markup=False)
        return
    instance = emu.start(
        port=port,
        state_dir=state_dir or path.parent / "localstack",
        services=[s.strip() for s in services.split(",") if s.strip()],
        backend=backend,
        detach=True,
        log=lambda line: err.print(line, markup=False),
    )
    emu.save_record(instance, path)
    for gap in emu.BACKENDS[backend].gaps:
        err.print(f"note: {backend} differs from AWS: {gap}", markup=False)
    err.print(f"{_name(instance)} is up (pid {_pids(instance)}); use it with:", markup=False)
    out.print(_exports(instance), markup=False)


@app.command()
def stop(record: RecordOpt = None) -> None:
    """Stop the emulator this project started (those process ids only)."""
    path = record or emu.record_path()
    instance = emu.load_record(path)
    if instance is None:
        raise EmulatorError(f"no emulator recorded in {path}")
    stopped = emu.stop(instance)
    path.unlink(missing_ok=True)
    out.print(
        f"stopped pid {_pids(instance)}" if stopped else f"pid {instance.pid} was not running",
        markup=False,
    )


@app.command()
def status(record: RecordOpt = None) -> None:
    """Say whether the recorded emulator is running and healthy; exit 1 when it is not."""
    path = record or emu.record_path()
    instance = emu.load_record(path)
    if instance is None:
        out.print("not started", markup=False)
        raise typer.Exit(1)
    if not emu.is_running(instance):
        out.print(f"not running (pid {instance.pid} is gone)", markup=False)
        raise typer.Exit(1)
    for process in instance.processes():
        health = emu.health(process.endpoint)
        services = health.get("services", {}) if health else {}
        wanted = (
            {k: v for k, v in services.items() if k in process.services}
            if isinstance(services, dict)
            else {}
        )
        out.print(
            f"running: {process.backend} pid {process.pid}, {process.endpoint}, {wanted}",
            markup=False,
        )
    out.print(_exports(instance), markup=False)
