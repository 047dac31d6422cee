"""The code a topology names, imported and checked as the runtime will (``bus validate --imports``).

``bus validate`` alone reads the file without running any of the application's code. With
``--imports`` it also imports every ``package.module:name`` the topology names, with the loaders
``bus worker`` and the publisher use (so the same rules and the same ``sys.path`` handling,
``bus.imports``): the events' models and upcasters (``bus.schema.Registry``), the handlers with
their signature and event annotation, the retry policies' exception classes
(``bus.worker.loader``), and the middlewares and idempotency store factories, imported and checked
callable but not called (a factory may connect to a database; ``bus worker`` calls them at
start-up). Each failure is a ``Problem`` at the ``FILE:LINE:COL`` of the key that names the code.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from bus.errors import BusError, Problem, SchemaError
from bus.middleware.load import factory
from bus.schema.registry import Registry
from bus.topology.document import Document, parse_document
from bus.topology.idempotency_model import BUILT_IN_STORES
from bus.topology.model import MiddlewareEntry, Topology
from bus.topology.patterns import KeyPath
from bus.worker.loader import load_handler, load_policy


def code_problems(path: Path, topology: Topology, base_dir: Path | None = None) -> list[Problem]:
    """Every code reference of ``topology`` (read from ``path``) that does not import or does not
    fit, at its position in ``path``; ``base_dir``: the topology's folder by default."""
    base = (base_dir or path.resolve().parent).resolve()
    doc = parse_document(path.read_text(encoding="utf-8"), str(path))
    found: list[Problem] = []
    registry: Registry | None = None
    try:
        registry = Registry.from_topology(topology, base)
    except SchemaError as exc:  # each problem at its key, or (two types, one model) at events
        located = exc.located or [(("events",), line) for line in str(exc).splitlines()]
        found += [Problem(doc.file, *doc.position(where), line) for where, line in located]
    found += _handler_problems(doc, topology, base, registry)
    found += _middleware_problems(doc, topology, base)
    return sorted(found, key=lambda p: (p.line, p.column))


def _handler_problems(
    doc: Document, topology: Topology, base: Path, registry: Registry | None
) -> Iterator[Problem]:
    for queue, binding in topology.handlers.items():
        for event_type, ref in binding.events.items():
            model = None
            if registry is not None and event_type in registry:
                model = registry.spec(event_type).model
            where = ("handlers", queue, "events", event_type)
            try:
                load_handler(event_type, ref, base, model)
            except BusError as exc:
                yield _at(doc, where, str(exc))
        where = ("handlers", queue, "retry", "transient")
        try:
            load_policy(binding, queue, base)
        except BusError as exc:
            yield _at(doc, where, str(exc))
        yield from _entries(doc, ("handlers", queue, "middleware"), binding.middleware, base)
        if binding.idempotency is not None:
            where = ("handlers", queue, "idempotency", "store")
            yield from _store(doc, where, binding.idempotency.store, base)


def _middleware_problems(doc: Document, topology: Topology, base: Path) -> Iterator[Problem]:
    yield from _entries(doc, ("middleware", "consume"), topology.middleware.consume, base)
    yield from _entries(doc, ("middleware", "publish"), topology.middleware.publish, base)
    yield from _store(doc, ("idempotency", "store"), topology.idempotency.store, base)


def _entries(
    doc: Document, where: KeyPath, entries: Sequence[MiddlewareEntry], base: Path
) -> Iterator[Problem]:
    for index, entry in enumerate(entries):
        yield from _factory(doc, (*where, index), entry.use, base)


def _store(doc: Document, where: KeyPath, store: str, base: Path) -> Iterator[Problem]:
    if store not in BUILT_IN_STORES:
        yield from _factory(doc, where, store, base)


def _factory(doc: Document, where: KeyPath, ref: str, base: Path) -> Iterator[Problem]:
    """A problem if ``ref`` is not an importable callable (``bus.middleware.load.factory``)."""
    try:
        factory(ref, base, _dotted(where))
    except BusError as exc:
        yield _at(doc, where, str(exc))


def _at(doc: Document, path: KeyPath, message: str) -> Problem:
    """``message`` at ``path``'s position, led by ``path`` unless it already is."""
    line, column = doc.position(path)
    where = _dotted(path)
    text = message if message.startswith(where) else f"{where}: {message}"
    return Problem(doc.file, line, column, text)


def _dotted(path: KeyPath) -> str:
    return ".".join(str(part) for part in path)
