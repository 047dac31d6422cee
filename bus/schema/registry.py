"""The registry: event type name (+ version) -> pydantic model, upcasters and routing facts.

Built once from ``topology.events``; every model and upcaster named there (``pkg.mod:Attr``) is
imported with the topology file's directory appended to ``sys.path`` (``bus.imports``). Parsing an older version validates it
against that version's model, then upcasts it step by step (v1 -> v2 -> ...) to the current one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from bus.errors import EventValidationError, SchemaError, UnknownEventError
from bus.imports import import_object, raised_on_import
from bus.topology.model import Destination, EventType, Topology
from bus.topology.patterns import KeyPath

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns version N's JSON-mode data into the next declared version's data."""


@dataclass(frozen=True)
class PreviousVersion:
    """An older version still accepted on consume, and the upcaster to the next version."""

    version: int
    model: type[BaseModel]
    upcast: Upcaster


@dataclass(frozen=True)
class EventSpec:
    """Everything bus knows about one event type."""

    name: str
    version: int
    model: type[BaseModel]
    source: str
    destinations: tuple[Destination, ...] = ()
    attributes: tuple[str, ...] = ()
    message_group_id: str | None = None
    previous_versions: tuple[PreviousVersion, ...] = field(default=())
    """Older versions, oldest first."""
    type_prefix: str = ""
    """Put before ``name`` in the CloudEvents ``type`` (topology ``cloudevents.type_prefix``)."""

    @property
    def cloudevents_type(self) -> str:
        """The CloudEvents ``type`` (and EventBridge ``DetailType``): ``type_prefix`` + ``name``."""
        return self.type_prefix + self.name

    @property
    def versions(self) -> tuple[int, ...]:
        return (*(p.version for p in self.previous_versions), self.version)

    def model_for(self, version: int) -> type[BaseModel]:
        """The model of ``version``; ``UnknownEventError`` for versions not declared."""
        if version == self.version:
            return self.model
        for prev in self.previous_versions:
            if prev.version == version:
                return prev.model
        known = ", ".join(str(v) for v in self.versions)
        raise UnknownEventError(
            f"{self.name} has no version {version} (declared: {known}); "
            + ("it is newer than this consumer knows" if version > self.version else "")
        )


def format_loc(loc: Sequence[int | str]) -> str:
    """Pydantic's error location as a field path: ``lines[0].quantity``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(event)"


MAX_VALIDATION_CHARS = 1000
"""How long naming more rejected fields makes a validation error's text: the fields that fit are
named, then how many more there are (a body of 1 MiB can hold a million bad fields). The worker
keeps as much of an error's text (``bus.aws.failure.MAX_ERROR_CHARS``), the count included."""


def validation_error(name: str, version: int, exc: ValidationError) -> EventValidationError:
    """An ``EventValidationError`` naming the fields pydantic rejected: every one when they fit
    in ``MAX_VALIDATION_CHARS``, else the first ones that fit and how many more there are
    (``fields`` holds the named ones; pydantic's error, the ``__cause__``, has them all)."""
    head = f"{name} v{version}: invalid data: "
    count = exc.error_count()
    fields: list[str] = []
    parts: list[str] = []
    size = len(head) - 2  # "; " before every part but the first
    for error in _errors(exc):
        path = format_loc(error["loc"])
        fields.append(path)
        parts.append(f"{path}: {error['msg']}")
        size += 2 + len(parts[-1])
        if size > MAX_VALIDATION_CHARS:
            break
    more = ""
    if size > MAX_VALIDATION_CHARS:  # fewer named, the first always, then how many more
        while len(parts) > 1 and size + len(_more(count - len(parts))) > MAX_VALIDATION_CHARS:
            size -= 2 + len(parts.pop())
            fields.pop()
        more = _more(count - len(parts))
    return EventValidationError(name, head + "; ".join(parts) + more, fields)


def _more(rest: int) -> str:
    """What follows the named errors when ``rest`` more are not named."""
    return f"; ... and {rest} more error{'s' if rest != 1 else ''}" if rest else ""


def _errors(exc: ValidationError) -> Iterator[dict[str, Any]]:
    """``exc.errors()``'s errors (type, loc and msg), parsed one at a time as they are used.
    ``errors()`` builds a dict for every error at once (a million errors: seconds, 500 MiB); their
    JSON text is one string, built ten times faster in a sixth of the memory."""
    text = exc.json(include_url=False, include_context=False, include_input=False)
    decoder = json.JSONDecoder()
    at = 0
    for _ in range(exc.error_count()):
        while text[at] in "[, \n":  # what opens the list and separates its errors
            at += 1
        error, at = decoder.raw_decode(text, at)
        yield error


def validate(spec: EventSpec, version: int, data: object) -> BaseModel:
    """``data`` validated against ``version``'s model (no upcasting)."""
    model = spec.model_for(version)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(spec.name, version, exc) from exc


class Registry:
    """Event types by name, and by model for publishing."""

    def __init__(self, specs: Iterable[EventSpec]) -> None:
        self._specs: dict[str, EventSpec] = {}
        self._by_type: dict[str, EventSpec] = {}
        self._by_model: dict[type[BaseModel], EventSpec] = {}
        self._old_models: dict[type[BaseModel], tuple[EventSpec, int]] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise SchemaError(f"event type {spec.name} is declared twice")
            other = self._by_model.get(spec.model)
            if other is not None:
                raise SchemaError(
                    f"events {other.name} and {spec.name} share the model "
                    f"{_qualname(spec.model)}; give each event type its own model "
                    "(a subclass will do) so a published event names its type"
                )
            self._specs[spec.name] = spec
            if spec.type_prefix:
                self._by_type[spec.cloudevents_type] = spec
            self._by_model[spec.model] = spec
            for prev in spec.previous_versions:
                self._old_models[prev.model] = (spec, prev.version)

    @classmethod
    def from_topology(cls, topology: Topology, base_dir: Path) -> Registry:
        """Import the models and upcasters ``topology.events`` names; ``SchemaError`` lists
        every event type whose declaration cannot be imported or does not fit its model."""
        specs: list[EventSpec] = []
        problems: list[SchemaError] = []
        for name, declared in topology.events.items():
            try:
                specs.append(_load_spec(name, declared, topology, base_dir))
            except SchemaError as exc:
                problems.append(exc)
        if problems:
            located = [line for exc in problems for line in exc.located]  # each _load_spec's
            raise SchemaError("\n".join(text for _, text in located), located=located)
        return cls(specs)

    def __iter__(self) -> Iterator[EventSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs or name in self._by_type

    def spec(self, event_type: str) -> EventSpec:
        """The event type named ``event_type``, or whose CloudEvents ``type`` (with the
        topology's ``type_prefix``) it is."""
        found = self._specs.get(event_type) or self._by_type.get(event_type)
        if found is None:
            known = ", ".join(sorted(self._specs)) or "none"
            raise UnknownEventError(f"unknown event type {event_type!r} (declared: {known})")
        return found

    def event_name(self, event_type: str) -> str:
        """The name in topology.yaml of the event whose CloudEvents ``type`` is ``event_type``
        (itself when no ``type_prefix`` is set or the type is not declared)."""
        found = self._by_type.get(event_type)
        return event_type if found is None else found.name

    def event_type_of(self, model: type[BaseModel] | BaseModel) -> EventSpec:
        """The event type whose *current* model is ``model`` (a class or an instance)."""
        cls = model if isinstance(model, type) else type(model)
        spec = self._by_model.get(cls)
        if spec is not None:
            return spec
        old = self._old_models.get(cls)
        if old is not None:
            raise UnknownEventError(
                f"{_qualname(cls)} is version {old[1]} of {old[0].name}; "
                f"publish the current version {old[0].version} ({_qualname(old[0].model)})"
            )
        raise UnknownEventError(
            f"{_qualname(cls)} is not the model of any event type in the topology"
        )

    def validate(self, event_type: str, data: object) -> BaseModel:
        """``data`` validated against the current version of ``event_type``."""
        spec = self.spec(event_type)
        return validate(spec, spec.version, data)

    def parse(self, event_type: str, version: int | None, data: object) -> BaseModel:
        """Validate ``data`` as ``version`` of ``event_type`` and upcast it to the current one.

        ``version`` ``None`` (an envelope that names none, docs/envelope.md) is the current
        version: the registry, not the decoder, knows which that is."""
        spec = self.spec(event_type)
        if version is None:
            version = spec.version
        event = validate(spec, version, data)
        for prev in spec.previous_versions:
            if prev.version < version:
                continue
            nxt = _next_version(spec, prev.version)
            try:
                upcast = prev.upcast(event.model_dump(mode="json"))
            except Exception as exc:
                raise EventValidationError(
                    spec.name,
                    f"{spec.name}: upcasting v{prev.version} -> v{nxt} failed: "
                    f"{type(exc).__name__}: {exc}",
                ) from exc
            event = validate(spec, nxt, upcast)
        return event


def _next_version(spec: EventSpec, version: int) -> int:
    return min(v for v in spec.versions if v > version)


def _qualname(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


def _problem(event: str, where: KeyPath, text: str) -> tuple[KeyPath, str]:
    """One problem of ``event``'s declaration at ``where`` (a key path under ``events.<event>``,
    ``("previous_versions", 1, "model")``): its whole key path and its line, led by the path as
    ``bus validate`` prints them (``events.E.attributes[1]``, ``...previous_versions.1``)."""
    shown = ""
    for part in where:  # a list's item in brackets (the one list here: attributes)
        shown += f"[{part}]" if shown.endswith(".attributes") else f".{part}"
    return ("events", event, *where), f"events.{event}{shown}: {text}"


def _error(event: str, where: KeyPath, text: str) -> SchemaError:
    path, line = _problem(event, where, text)
    return SchemaError(line, located=[(path, line)])


def _import(event: str, where: KeyPath, path: str, base_dir: Path) -> object:
    try:
        return import_object(path, base_dir)
    except (ImportError, LookupError) as exc:
        raise _error(
            event, where,
            f"cannot import {path!r} (from {base_dir}): {type(exc).__name__}: {exc}",
        ) from exc  # fmt: skip
    except Exception as exc:  # the module raised while it was imported: where, in its code
        raise _error(event, where, f"{path}: {raised_on_import(exc)}") from exc


def _import_model(event: str, where: KeyPath, path: str, base_dir: Path) -> type[BaseModel]:
    obj = _import(event, where, path, base_dir)
    if not (isinstance(obj, type) and issubclass(obj, BaseModel)):
        raise _error(event, where, f"{path!r} is not a pydantic model class")
    return obj


def _import_upcaster(event: str, where: KeyPath, path: str, base_dir: Path) -> Upcaster:
    obj = _import(event, where, path, base_dir)
    if not callable(obj):
        raise _error(event, where, f"{path!r} is not callable")
    upcast: Upcaster = obj
    return upcast


def _check_fields(event: str, model: type[BaseModel], declared: EventType) -> None:
    """Every declared attribute and the group id name a field of the model (all reported)."""
    fields = model.model_fields
    located = [
        _problem(event, ("attributes", i), f"{name!r} is not a field of {declared.model}")
        for i, name in enumerate(declared.attributes)
        if name not in fields
    ]
    group = declared.message_group_id
    if group is not None and group not in fields:
        located.append(
            _problem(event, ("message_group_id",), f"{group!r} is not a field of {declared.model}")
        )
    if located:
        raise SchemaError("\n".join(line for _, line in located), located=located)


def _load_spec(name: str, declared: EventType, topology: Topology, base_dir: Path) -> EventSpec:
    model = _import_model(name, ("model",), declared.model, base_dir)
    _check_fields(name, model, declared)
    previous: list[PreviousVersion] = []
    for version, prev in sorted(declared.previous_versions.items()):
        where = ("previous_versions", version)
        if version >= declared.version:
            raise _error(name, where, f"must be older than the current version {declared.version}")
        previous.append(
            PreviousVersion(
                version=version,
                model=_import_model(name, (*where, "model"), prev.model, base_dir),
                upcast=_import_upcaster(name, (*where, "upcast"), prev.upcast, base_dir),
            )
        )
    return EventSpec(
        name=name,
        version=declared.version,
        model=model,
        source=declared.source or topology.cloudevents.source or topology.name,
        destinations=tuple(declared.publish_to),
        attributes=tuple(declared.attributes),
        message_group_id=declared.message_group_id,
        previous_versions=tuple(previous),
        type_prefix=topology.cloudevents.type_prefix,
    )
