"""topology.yaml's middleware, idempotency and timeout keys: loaded as declared, and every mistake
reported at its FILE:LINE like any other key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.errors import TopologyError
from bus.topology.load import load_topology
from bus.topology.model import MiddlewareRef

GOOD = """\
name: shop
middleware:
  consume:
    - app.metrics:count
    - use: app.tracing:Tracing
      options: {service: shop}
  publish: [app.tracing:Stamp]
idempotency: {store: "app.stores:dynamo", options: {table: seen}, expires: 60}
queues:
  work: {}
events:
  Ping: {model: "tests.worker.apps:Ping", publish_to: [{queue: work}]}
handlers:
  work:
    events: {Ping: "tests.worker.apps:record"}
    timeout: 2.5
    idempotency: {store: memory}
    middleware: [app.metrics:count]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topology.yaml"
    path.write_text(text)
    return path


def test_the_keys_load_as_declared(tmp_path: Path) -> None:
    topology = load_topology(_write(tmp_path, GOOD))
    assert topology.middleware.consume == [
        MiddlewareRef(use="app.metrics:count"),
        MiddlewareRef(use="app.tracing:Tracing", options={"service": "shop"}),
    ]
    assert topology.middleware.publish == [MiddlewareRef(use="app.tracing:Stamp")]
    assert topology.idempotency.store == "app.stores:dynamo"
    assert topology.idempotency.expires == 60
    work = topology.handlers["work"]
    assert work.timeout == 2.5
    assert work.guarded
    assert work.idempotency is not None
    assert work.idempotency.store == "memory"


@pytest.mark.parametrize(
    ("old", "new", "line", "expected"),
    [
        ("    timeout: 2.5", "    timeout: -1", 16, "handlers.work.timeout"),
        ("    - app.metrics:count\n", "    - not a path\n", 4, "middleware.consume[0]"),
        ("      options: {service: shop}", "      opts: {service: shop}", 6, "opts"),
        ("expires: 60}", "expires: 0}", 8, "idempotency.expires"),
        ("{store: memory}", "{store: redis}", 17, "handlers.work.idempotency.store"),
    ],
)
def test_a_mistake_is_reported_at_its_line(
    tmp_path: Path, old: str, new: str, line: int, expected: str
) -> None:
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    (problem, *_) = info.value.problems
    assert problem.line == line, info.value.problems
    assert expected in problem.message, problem.message
    assert str(problem).startswith(f"{path}:{line}:")
