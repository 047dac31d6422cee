"""JSON Schema per event version, and the snapshot directory committed with the models.

``bus schemas export`` writes ``<dir>/<Type>.v<N>.json`` for every declared version (current and
previous), the schema of its ``data``; ``bus schemas check`` compares the models with those files
(``bus.schema.compat``). It also writes ``<dir>/envelopes/<Type>.v<N>.json``, the schema of the
whole envelope as it travels (``bus.schema.envelope``), so that a producer in any language can
validate an event before sending it. Exporting never deletes a file: retiring a version is
deleting its snapshot on purpose.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bus.errors import SchemaError
from bus.schema.envelope import envelope_schema
from bus.schema.registry import EventSpec, Registry

DEFAULT_SNAPSHOT_DIR = Path("schemas/snapshots")
ENVELOPE_DIR = "envelopes"
"""Under the snapshot directory: one whole-envelope schema per event version."""
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_FILE_RE = re.compile(r"^(?P<name>.+)\.v(?P<version>[1-9]\d*)\.json$")

Schema = dict[str, Any]


@dataclass(frozen=True, order=True)
class SchemaKey:
    event: str
    version: int

    @property
    def filename(self) -> str:
        return f"{self.event}.v{self.version}.json"

    def __str__(self) -> str:
        return f"{self.event} v{self.version}"


def json_schema(key: SchemaKey, model: type[BaseModel]) -> Schema:
    """The JSON Schema (2020-12) of one event version's ``data``, as pydantic validates it."""
    schema = model.model_json_schema(mode="validation")
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "x-bus-event": key.event,
        "x-bus-version": key.version,
        **schema,
    }


def current_schemas(registry: Registry) -> dict[SchemaKey, Schema]:
    """Every declared event version's JSON Schema, from the models."""
    out: dict[SchemaKey, Schema] = {}
    for spec in registry:
        for version in spec.versions:
            key = SchemaKey(spec.name, version)
            out[key] = json_schema(key, spec.model_for(version))
    return dict(sorted(out.items()))


def dumps(schema: Schema) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def envelope_json_schema(spec: EventSpec, version: int) -> Schema:
    """The JSON Schema (2020-12) of the whole envelope of one event version, standalone: the
    model's definitions under ``$defs``."""
    data = spec.model_for(version).model_json_schema(mode="validation")
    defs = data.pop("$defs", None)
    out: Schema = {
        "$schema": JSON_SCHEMA_DIALECT,
        "x-bus-event": spec.name,
        "x-bus-version": version,
        **envelope_schema(spec, version, data),
    }
    if defs:
        out["$defs"] = defs
    return out


def _write(schemas: dict[SchemaKey, Schema], out_dir: Path) -> list[Path]:
    written: list[Path] = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for key, schema in schemas.items():
            path = out_dir / key.filename
            text = dumps(schema)
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
            written.append(path)
    except OSError as exc:  # a file where the folder goes, no permission, a full disk
        raise SchemaError(f"cannot write the schemas into {out_dir}: {exc.strerror}") from exc
    return written


def export_schemas(registry: Registry, out_dir: Path) -> list[Path]:
    """Write one ``<Type>.v<N>.json`` per event version into ``out_dir``; return the paths."""
    return _write(current_schemas(registry), out_dir)


def export_envelopes(registry: Registry, out_dir: Path) -> list[Path]:
    """Write one whole-envelope ``<Type>.v<N>.json`` per event version into
    ``out_dir/envelopes``; return the paths."""
    schemas = {
        SchemaKey(spec.name, version): envelope_json_schema(spec, version)
        for spec in registry
        for version in spec.versions
    }
    return _write(dict(sorted(schemas.items())), out_dir / ENVELOPE_DIR)


def load_snapshots(snapshot_dir: Path) -> dict[SchemaKey, Schema]:
    """The committed snapshot: ``SchemaError`` naming the file when one is not valid JSON."""
    if not snapshot_dir.is_dir():
        raise SchemaError(
            f"no schema snapshot at {snapshot_dir}: run `bus schemas export --out {snapshot_dir}`"
        )
    out: dict[SchemaKey, Schema] = {}
    for path in sorted(snapshot_dir.glob("*.json")):
        match = _FILE_RE.match(path.name)
        if match is None:
            raise SchemaError(f"{path}: snapshot files are named <EventType>.v<N>.json")
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SchemaError(f"{path}: not a JSON schema: {exc}") from exc
        if not isinstance(data, dict):
            raise SchemaError(f"{path}: not a JSON schema object")
        out[SchemaKey(match["name"], int(match["version"]))] = data
    return out
