"""Handler bindings are imported and checked at start-up; mistakes name the import path."""

from __future__ import annotations

from typing import Any

import pytest

from bus.errors import HandlerError
from bus.topology.model import Topology
from bus.worker.loader import load_bindings
from tests.worker import apps
from tests.worker.conftest import ROOT


def topology(handlers: dict[str, Any], transient: list[str] | None = None) -> Topology:
    binding: dict[str, Any] = {"events": handlers}
    if transient is not None:
        binding["retry"] = {"transient": transient}
    return Topology.model_validate(
        {
            "name": "loader",
            "queues": {"q": {}},
            "events": {
                "Ping": {"model": "tests.worker.apps:Ping", "publish_to": [{"queue": "q"}]},
                "Pong": {"model": "tests.worker.apps:Pong", "publish_to": [{"queue": "q"}]},
            },
            "handlers": {"q": binding},
        }
    )


def model_of(name: str) -> type[Any]:
    return {"Ping": apps.Ping, "Pong": apps.Pong}[name]


def test_bindings_resolve_functions_and_detect_the_context_parameter() -> None:
    (binding,) = load_bindings(
        topology(
            {"Ping": "tests.worker.apps:record", "Pong": "tests.worker.apps:record_event_only"}
        ),
        ROOT,
        model_of=model_of,
    )
    assert binding.queue == "q"
    assert binding.handlers["Ping"].func is apps.record
    assert binding.handlers["Ping"].takes_context is True
    assert binding.handlers["Pong"].takes_context is False
    assert binding.policy.transient == (TimeoutError, ConnectionError)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tests.worker.nowhere:handler", "tests.worker.nowhere:handler: cannot import it"),
        ("tests.worker.apps:missing", "tests.worker.apps:missing: cannot import it"),
        ("tests.worker.apps:CALLS", "handler tests.worker.apps:CALLS for Ping: not a function"),
        ("tests.worker.apps:not_async", "tests.worker.apps:not_async for Ping: must be an async"),
        ("tests.worker.apps:too_many", "tests.worker.apps:too_many for Ping: a handler takes"),
        (
            "tests.worker.apps:wrong_annotation",
            "its event parameter is annotated Pong, but this event decodes to tests.worker.apps.Ping",
        ),
    ],
)
def test_broken_bindings_name_the_import_path(path: str, message: str) -> None:
    with pytest.raises(HandlerError, match=message.replace(".", r"\.")):
        load_bindings(topology({"Ping": path}), ROOT, model_of=model_of)


def test_transient_errors_must_be_exception_classes() -> None:
    with pytest.raises(
        HandlerError, match=r"handlers\.q\.retry\.transient: tests\.worker\.apps:record"
    ):
        load_bindings(
            topology({"Ping": "tests.worker.apps:record"}, ["tests.worker.apps:record"]), ROOT
        )


def test_only_the_requested_queues_are_loaded_and_unknown_ones_refused() -> None:
    topo = topology({"Ping": "tests.worker.apps:record"})
    assert [b.queue for b in load_bindings(topo, ROOT, ["q"])] == ["q"]
    with pytest.raises(HandlerError, match="queue 'nope' has no handlers in the topology"):
        load_bindings(topo, ROOT, ["nope"])


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("x = 1\nraise RuntimeError('boom at import')\n", "RuntimeError: boom at import ("),
        ("def broken(:\n", "SyntaxError: invalid syntax ("),
    ],
)
def test_a_module_that_raises_while_imported_is_one_handler_error_naming_the_line(
    tmp_path: Any, source: str, says: str
) -> None:
    import sys
    import uuid

    from bus.worker.loader import load_handler

    name = (
        f"raising_{uuid.uuid4().hex[:8]}"  # each case its own module (folders pile up on sys.path)
    )
    (tmp_path / f"{name}.py").write_text(source)
    try:
        with pytest.raises(HandlerError) as info:
            load_handler("E", f"{name}:handle", tmp_path)
    finally:
        sys.modules.pop(name, None)
    message = str(info.value)
    assert message.startswith(f"{name}:handle: importing it raised {says}")
    assert message.endswith((f"{name}.py, line 2)", f"{name}.py, line 1)"))
