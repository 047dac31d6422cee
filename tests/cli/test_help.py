"""Every command's help shows what it was written to say: rich's markup eats bracketed text
(``[default: ...]`` vanished from nine options' help) and its command lists keep a docstring's
line breaks."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import typer.main
from rich.text import Text
from typer.testing import CliRunner

from bus.cli import app


def commands() -> Iterator[tuple[str, Any]]:
    """Every command and group of ``bus``, with its path (``bus dlq redrive``); duck-typed: Typer
    builds them on its own copy of click."""
    stack: list[tuple[str, Any]] = [("bus", typer.main.get_command(app))]
    while stack:
        path, command = stack.pop()
        yield path, command
        subcommands = getattr(command, "commands", {})
        stack.extend((f"{path} {name}", sub) for name, sub in subcommands.items())


def texts() -> Iterator[tuple[str, str]]:
    for path, command in commands():
        for text in (command.help, command.short_help):
            if text:
                yield path, inspect.cleandoc(text)
        for param in command.params:
            help_text = getattr(param, "help", None)
            if help_text:
                yield f"{path} {param.name}", help_text


def test_no_help_text_holds_markup_that_rich_would_eat() -> None:
    eaten = [(where, text) for where, text in texts() if Text.from_markup(text).plain != text]
    assert not eaten


def test_no_help_text_shows_restructured_text_quotes() -> None:
    assert not [(where, text) for where, text in texts() if "``" in text]


def plain(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_default_described_in_words_is_shown() -> None:
    flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", plain("dlq", "redrive")).split())
    assert "Destination queue. [default: (the source queues)]" in flat


def test_every_command_summary_is_one_paragraph_on_as_few_lines_as_the_width_allows() -> None:
    """``plan``'s summary (117 characters) fits a 200-column terminal on one line."""
    lines = [line for line in plain().splitlines() if "bus apply` would change" in line]
    assert len(lines) == 1
    assert "(exit 3 when it holds a change `bus apply` would refuse)." in lines[0]
    summaries = [c.short_help for _, c in commands() if c.short_help]
    assert len(summaries) > 20
    assert all("\n" not in s for s in summaries)


def test_a_commands_help_is_paragraphs_of_prose_reflowed_to_the_terminal() -> None:
    """``bus publish --help``'s second paragraph (four docstring lines) is two lines at 200
    columns, each full, not broken where the docstring's lines end."""
    lines = plain("publish").splitlines()
    start = next(i for i, line in enumerate(lines) if "Prints `event-id destination" in line)
    paragraph = lines[start : next(i for i in range(start, len(lines)) if not lines[i].strip())]
    assert len(paragraph) == 2
    assert "then (stderr) each failure and one error line" in paragraph[0]
    helps = [c.help for _, c in commands() if c.help]
    assert all("\n" not in part for h in helps for part in h.split("\n\n"))


def test_no_option_reads_aws_endpoint_url_itself() -> None:
    """``Settings.from_env`` reads ``AWS_ENDPOINT_URL`` (and leaves it out when
    ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` is true): an option reading it as its environment
    variable would hand it over as if given explicitly."""
    for path, command in commands():
        for param in getattr(command, "params", []):
            assert "AWS_ENDPOINT_URL" not in str(param.envvar or ""), (path, param.opts)
