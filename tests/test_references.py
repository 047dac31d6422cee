"""``bus validate --imports`` (``bus.references.code_problems``): every code reference of a topology
imported as the runtime will, each failure at the line that names it; a clean application has
none, and without ``--imports`` no application code runs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.cli import main
from bus.references import code_problems
from bus.topology.load import load_topology

ROOT = Path(__file__).parents[1]

APP = """
from pydantic import BaseModel

RAN = []  # what importing this module did


class Ordered(BaseModel):
    order_id: str


class Other(BaseModel):
    x: int


async def good(event: Ordered) -> None: ...


def not_async(event: Ordered) -> None: ...


async def too_many(event, ctx, extra): ...


async def wrong_annotation(event: Other) -> None: ...


async def passthrough(delivery, call_next):
    await call_next(delivery)


NOT_CALLABLE = 3
"""

TOPOLOGY = """\
name: refs
queues:
  a: {{}}
  b: {{}}
events:
  Ordered:
    model: {model}
    publish_to: [{{queue: a}}]
handlers:
  a:
    events:
      Ordered: {handler_a}
    retry:
      transient: [{transient}]
    middleware: [{queue_middleware}]
  b:
    events:
      Ordered: {handler_b}
middleware:
  consume: [{consume}]
  publish: [{publish}]
idempotency:
  store: {store}
"""

GOOD = {
    "model": "refapp:Ordered",
    "handler_a": "refapp:good",
    "handler_b": "refapp:good",
    "transient": "builtins:TimeoutError",
    "queue_middleware": "refapp:passthrough",
    "consume": "refapp:passthrough",
    "publish": "refapp:passthrough",
    "store": "memory",
}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "refapp.py").write_text(APP)
    (tmp_path / "broken.py").write_text("def oops(:\n")
    yield tmp_path
    for name in ("refapp", "broken"):
        sys.modules.pop(name, None)


def write(folder: Path, **changes: str) -> Path:
    path = folder / "topology.yaml"
    path.write_text(TOPOLOGY.format(**{**GOOD, **changes}))
    return path


def problems(path: Path) -> list[str]:
    return [str(p) for p in code_problems(path, load_topology(path))]


def test_a_clean_application_has_no_problems(app: Path) -> None:
    assert problems(write(app)) == []


def test_every_broken_reference_is_reported_at_its_line(app: Path) -> None:
    path = write(
        app,
        model="refapp:Nope",
        handler_a="refapp:not_async",
        transient="refapp:Other",
        queue_middleware="refapp:NOT_CALLABLE",
        handler_b="broken:oops",
        consume="nosuch.module:mw",
        publish="refapp:missing",
        store="refapp:NOT_CALLABLE",
    )
    found = problems(path)
    f = str(path)
    assert found == [
        f"{f}:7:12: events.Ordered.model: cannot import 'refapp:Nope' (from {app}): "
        "ImportPathError: module refapp has no attribute 'Nope'",
        f"{f}:12:16: handlers.a.events.Ordered: handler refapp:not_async for Ordered: "
        "must be an async function (async def)",
        f"{f}:14:7: handlers.a.retry.transient: refapp:Other is not an exception class",
        f"{f}:15:18: handlers.a.middleware.0: refapp:NOT_CALLABLE is not callable",
        f"{f}:18:16: handlers.b.events.Ordered: broken:oops: importing it "
        "raised SyntaxError: invalid syntax (broken.py, line 1)",
        f"{f}:20:13: middleware.consume.0: nosuch.module:mw: cannot import it: No module named "
        "'nosuch'",
        f"{f}:21:13: middleware.publish.0: refapp:missing: cannot import it: module refapp has "
        "no attribute 'missing'",
        f"{f}:23:10: idempotency.store: refapp:NOT_CALLABLE is not callable",
    ]


def test_a_handler_is_checked_against_its_events_model(app: Path) -> None:
    path = write(app, handler_a="refapp:wrong_annotation", handler_b="refapp:too_many")
    found = problems(path)
    assert len(found) == 2
    assert "annotated Other, but this event decodes to refapp.Ordered" in found[0]
    assert "a handler takes (event) or (event, ctx)" in found[1]


def test_the_cli_runs_no_application_code_without_imports(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(app, handler_a="refapp:not_async")
    with pytest.raises(SystemExit) as exited:
        main(["validate", "-t", str(path)])
    assert exited.value.code == 0
    assert "refapp" not in sys.modules
    with pytest.raises(SystemExit) as exited:
        main(["validate", "-t", str(path), "--imports"])
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert f"{path}:12:16: handlers.a.events.Ordered: handler refapp:not_async" in err
    assert err.endswith("1 problem found\n")


def test_the_reference_application_imports_cleanly() -> None:
    path = ROOT / "topology.yaml"
    assert problems(path) == []


def test_a_model_module_that_raises_names_its_file_and_line(app: Path) -> None:
    (app / "raising_models.py").write_text("x = 1\nraise RuntimeError('no models today')\n")
    try:
        found = problems(write(app, model="raising_models:Ordered"))
    finally:
        sys.modules.pop("raising_models", None)
    assert found[0].endswith(
        "events.Ordered.model: raising_models:Ordered: importing it raised RuntimeError: "
        "no models today (raising_models.py, line 2)"
    )


def test_each_field_an_event_declares_but_its_model_lacks_is_at_its_own_line(app: Path) -> None:
    text = TOPOLOGY.format(**GOOD).replace(
        "    publish_to: [{queue: a}]\n",
        "    publish_to: [{queue: a}]\n"
        "    attributes: [order_id, nope, also_not]\n"
        "    message_group_id: zzz\n"
        "    version: 2\n"
        "    previous_versions:\n"
        "      1: {model: refapp:Ordered, upcast: refapp:NOT_CALLABLE}\n",
    )
    path = app / "topology.yaml"
    path.write_text(text)
    f = str(path)
    assert problems(path) == [
        f"{f}:9:28: events.Ordered.attributes[1]: 'nope' is not a field of refapp:Ordered",
        f"{f}:9:34: events.Ordered.attributes[2]: 'also_not' is not a field of refapp:Ordered",
        f"{f}:10:23: events.Ordered.message_group_id: 'zzz' is not a field of refapp:Ordered",
    ]  # the fields are checked before the versions: those are reported once these are fixed
    path.write_text(text.replace("order_id, nope, also_not", "order_id").replace("zzz", "order_id"))
    assert problems(path) == [
        f"{f}:13:42: events.Ordered.previous_versions.1.upcast: 'refapp:NOT_CALLABLE' is not "
        "callable"
    ]
