"""Reading JSON Schemas (as pydantic writes them) for ``bus.schema.compat``: types, enum values,
bounds, tuple positions and renamed fields. Pure functions over ``Schema`` dicts."""

from __future__ import annotations

from typing import Any

from bus.schema.snapshot import Schema

Bound = tuple[float, bool]  # (value, exclusive)


def values_of(s: Schema) -> list[Any] | None:
    if "enum" in s:
        return list(s["enum"])
    if "const" in s:
        return [s["const"]]
    return None


def type_of(s: Schema) -> str:
    t = s.get("type")
    if isinstance(t, str):
        return t
    if "properties" in s:
        return "object"
    if "items" in s or "prefixItems" in s:
        return "array"
    return "any" if values_of(s) is None else "enum"


def value_type(value: object) -> str:
    """The JSON type of an enum value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def split_values(s: Schema) -> list[Schema]:
    """A schema of bare values (no ``type``) as one alternative per JSON type of its values."""
    values = values_of(s)
    if values is None or "type" in s:
        return [s]
    groups: dict[str, list[Any]] = {}
    for value in values:
        groups.setdefault(value_type(value), []).append(value)
    if len(groups) <= 1:
        return [s]
    rest = {k: v for k, v in s.items() if k not in ("enum", "const")}
    return [{**rest, "enum": group, "type": kind} for kind, group in groups.items()]


def without_titles(s: object) -> object:
    """A schema without its titles (pydantic titles a property after its name)."""
    if isinstance(s, dict):
        return {k: without_titles(v) for k, v in s.items() if k != "title"}
    if isinstance(s, list):
        return [without_titles(v) for v in s]
    return s


def describe(s: Schema) -> str:
    values = values_of(s)
    if values is not None:
        return f"one of {values}"
    t = type_of(s)
    return f"{t} {s['title']}" if t == "object" and "title" in s else t


def accepts_type(new: str, old: str) -> bool:
    return new in ("any", old) or (old == "integer" and new == "number")


def accepts(new: Schema, old: Schema) -> bool:
    """Whether ``new``'s type can take values of ``old``'s (bare values: by each value's type)."""
    old_type, new_type = type_of(old), type_of(new)
    if old_type == "enum":
        values = values_of(old) or []
        return new_type == "enum" or all(accepts_type(new_type, value_type(v)) for v in values)
    return accepts_type(new_type, old_type)


def lower_bound(s: Schema) -> Bound | None:
    bounds = []
    if isinstance(s.get("minimum"), int | float):
        bounds.append((float(s["minimum"]), False))
    if isinstance(s.get("exclusiveMinimum"), int | float):
        bounds.append((float(s["exclusiveMinimum"]), True))
    return max(bounds) if bounds else None


def upper_bound(s: Schema) -> Bound | None:
    bounds = []
    if isinstance(s.get("maximum"), int | float):
        bounds.append((-float(s["maximum"]), False))
    if isinstance(s.get("exclusiveMaximum"), int | float):
        bounds.append((-float(s["exclusiveMaximum"]), True))
    if not bounds:
        return None
    value, exclusive = max(bounds)
    return -value, exclusive


def renames(old_props: Schema, new_props: Schema) -> dict[str, str]:
    """Removed field -> added field with the same schema (each added field paired once)."""
    added = [name for name in new_props if name not in old_props]
    out: dict[str, str] = {}
    for name, schema in old_props.items():
        if name in new_props:
            continue
        shape = without_titles(schema)
        match = next((a for a in added if without_titles(new_props[a]) == shape), None)
        if match is not None:
            out[name] = match
            added.remove(match)
    return out


def prefix_items(s: Schema) -> list[Any]:
    prefix = s.get("prefixItems")
    return list(prefix) if isinstance(prefix, list) else []


def item_schema(s: Schema, prefix: list[Any], position: int) -> object:
    """The schema of the item at ``position``: its tuple position, else ``items`` (if any)."""
    if position < len(prefix):
        return prefix[position]
    return s.get("items")


def items_text(count: int) -> str:
    return f"{count} item{'s' if count != 1 else ''}"
