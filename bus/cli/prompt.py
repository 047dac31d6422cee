"""Asking before a destructive or AWS-changing command, the same way for every command."""

from __future__ import annotations

import sys

import typer

from bus.cli.output import err


def confirm(question: str, yes: bool, *, flag: str = "--yes") -> None:
    """Ask on a terminal; without one, refuse (exit 1) unless ``flag`` was given.

    Nothing has been changed when this refuses or the answer is no.
    """
    if yes:
        return
    if not sys.stdin.isatty():
        err.print(
            f"error: stdin is not a terminal, so not asking: {question} Pass {flag} to go ahead.",
            markup=False,
        )
        raise typer.Exit(1)
    if not typer.confirm(question, default=False):
        err.print("Cancelled; nothing was changed.", markup=False)
        raise typer.Exit(1)
