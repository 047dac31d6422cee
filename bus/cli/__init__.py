"""The ``bus`` command line: parse, call the library, print. ``cli.py`` at the top of the checkout
is the entry point; the command groups live in this package, one module per area."""

from __future__ import annotations

import inspect
import sys

import typer

from bus.cli import dlq, emulator, outbox, validate
from bus.cli import lambda_ as lambda_commands
from bus.cli import publish as publish_commands
from bus.cli import topology as topology_commands
from bus.cli import trace as trace_command
from bus.cli import up as up_command
from bus.cli import worker as worker_command
from bus.cli.output import err
from bus.errors import BusError, TopologyError

app = typer.Typer(
    name="bus",
    help="Topology, publishing, workers and DLQ operations for SNS, SQS and EventBridge.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(emulator.app, name="emulator")
app.add_typer(dlq.app, name="dlq")
app.add_typer(outbox.app, name="outbox")
app.add_typer(lambda_commands.app, name="lambda")
app.command()(validate.validate)
topology_commands.register(app)
publish_commands.register(app)
app.command()(up_command.up)
app.command()(worker_command.worker)
app.command()(trace_command.trace)


def reflow_help(group: typer.Typer) -> None:
    """Make each command's help (in ``group`` and its sub-groups) paragraphs of prose: rich's help
    keeps a docstring's single line breaks, which breaks lines at the docstring's width whatever
    the terminal's. The first paragraph, on one line, is the command's summary in the group's
    list."""
    for info in group.registered_commands:
        text = info.help or inspect.getdoc(info.callback) or ""
        paragraphs = [" ".join(part.split()) for part in text.split("\n\n")]
        info.help = "\n\n".join(paragraphs)
        if info.short_help is None:
            info.short_help = paragraphs[0]
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            reflow_help(sub.typer_instance)


reflow_help(app)


def report(exc: BusError) -> int:
    """Print a bus error as the user should see it (no traceback); return its exit code."""
    if isinstance(exc, TopologyError):
        for problem in exc.problems:
            err.print(str(problem), markup=False)
        count = len(exc.problems)
        err.print(f"{count} problem{'s' if count != 1 else ''} found", markup=False)
    else:
        err.print(f"error: {exc}", markup=False)
    return exc.exit_code


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; bus errors print one clear line and exit with their family's code."""
    try:
        app(args=argv, prog_name="bus")
    except BusError as exc:
        sys.exit(report(exc))
