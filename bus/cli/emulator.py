"""``bus emulator start|stop|status``: the embedded LocalStack for this project directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bus import emulator as emu
from bus.cli.output import err, out
from bus.errors import EmulatorError

app = typer.Typer(
    help="Install, start and stop the embedded LocalStack (no Docker).", no_args_is_help=True
)

RecordOpt = Annotated[
    Path | None,
    typer.Option(
        "--record", help="Where the running emulator is recorded [default: .bus/emulator.json]."
    ),
]


def _exports(instance: emu.EmulatorInstance) -> str:
    return "\n".join(f"export {k}={v}" for k, v in instance.env().items())


@app.command()
def start(
    port: Annotated[
        int | None, typer.Option(help="Port on 127.0.0.1 [default: a free one].")
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="State directory [default: .bus/localstack].")
    ] = None,
    record: RecordOpt = None,
) -> None:
    """Start LocalStack in the background (installing it on first use) and print its endpoint."""
    path = record or emu.record_path()
    running = emu.load_record(path)
    if running is not None and emu.is_running(running):
        err.print(f"already running (pid {running.pid}) on {running.endpoint}", markup=False)
        out.print(_exports(running), markup=False)
        return
    instance = emu.start(
        port=port,
        state_dir=state_dir or path.parent / "localstack",
        detach=True,
        log=lambda line: err.print(line, markup=False),
    )
    emu.save_record(instance, path)
    err.print(f"LocalStack is up (pid {instance.pid}); use it with:", markup=False)
    out.print(_exports(instance), markup=False)


@app.command()
def stop(record: RecordOpt = None) -> None:
    """Stop the LocalStack this project started (that process id only)."""
    path = record or emu.record_path()
    instance = emu.load_record(path)
    if instance is None:
        raise EmulatorError(f"no emulator recorded in {path}")
    stopped = emu.stop(instance)
    path.unlink(missing_ok=True)
    out.print(
        f"stopped pid {instance.pid}" if stopped else f"pid {instance.pid} was not running",
        markup=False,
    )


@app.command()
def status(record: RecordOpt = None) -> None:
    """Say whether the recorded LocalStack is running and healthy; exit 1 when it is not."""
    path = record or emu.record_path()
    instance = emu.load_record(path)
    if instance is None:
        out.print("not started", markup=False)
        raise typer.Exit(1)
    if not emu.is_running(instance):
        out.print(f"not running (pid {instance.pid} is gone)", markup=False)
        raise typer.Exit(1)
    health = emu.health(instance.endpoint)
    services = health.get("services", {}) if health else {}
    wanted = (
        {k: v for k, v in services.items() if k in instance.services}
        if isinstance(services, dict)
        else {}
    )
    out.print(f"running: pid {instance.pid}, {instance.endpoint}, {wanted}", markup=False)
    out.print(_exports(instance), markup=False)
