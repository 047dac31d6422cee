"""``configure_logging``: JSON lines off a terminal, the console renderer on one; the level filters;
context variables (the delivery's fields while a handler runs) are merged into every line."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog
from structlog.contextvars import bound_contextvars

from bus.logging import configure_logging


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def test_json_lines_off_a_terminal_with_level_time_and_context() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    log = structlog.get_logger("bus.test")
    with bound_contextvars(message_id="m-1", correlation_id="flow-1"):
        log.info("handled", queue="billing")
    log.debug("not shown at INFO")
    log.warning("after the handler")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "handled"
    assert (first["level"], first["queue"], first["message_id"]) == ("info", "billing", "m-1")
    assert first["correlation_id"] == "flow-1"
    assert first["timestamp"].endswith("Z")
    assert second["event"] == "after the handler"
    assert "message_id" not in second


def test_the_console_renderer_on_a_terminal() -> None:
    stream = Terminal()
    configure_logging("DEBUG", stream=stream)
    structlog.get_logger("bus.test").debug("readable", message_id="m-2")
    text = stream.getvalue()
    assert "readable" in text
    assert "message_id" in text
    assert "m-2" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_json_can_be_asked_for_on_a_terminal_and_exceptions_are_rendered() -> None:
    stream = Terminal()
    configure_logging("warning", json=True, stream=stream)
    log = structlog.get_logger("bus.test")
    log.info("filtered out")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    (line,) = stream.getvalue().splitlines()
    data = json.loads(line)
    assert (data["event"], data["level"]) == ("failed", "error")
    assert "ValueError: boom" in data["exception"]
