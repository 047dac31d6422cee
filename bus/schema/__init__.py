"""Event schemas: the registry (type + version -> model, upcasting), JSON Schema snapshots and
the compatibility check run by ``bus schemas check``."""

from bus.schema.compat import Change, check_snapshots, compare_schemas
from bus.schema.registry import EventSpec, PreviousVersion, Registry, Upcaster
from bus.schema.snapshot import (
    DEFAULT_SNAPSHOT_DIR,
    SchemaKey,
    current_schemas,
    envelope_json_schema,
    export_envelopes,
    export_schemas,
    json_schema,
    load_snapshots,
)

__all__ = [
    "DEFAULT_SNAPSHOT_DIR",
    "Change",
    "EventSpec",
    "PreviousVersion",
    "Registry",
    "SchemaKey",
    "Upcaster",
    "check_snapshots",
    "compare_schemas",
    "current_schemas",
    "envelope_json_schema",
    "export_envelopes",
    "export_schemas",
    "json_schema",
    "load_snapshots",
]
