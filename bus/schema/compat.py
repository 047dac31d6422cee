"""Compatibility of an event version's schema with its committed snapshot.

A change is *breaking* when events valid under the snapshot may be rejected by the new model (a
consumer reading messages still in flight), or when a field consumers rely on disappears:

====================== =================================================================
rule                   breaking when
====================== =================================================================
required-field-added   a new field has no default
required-field-removed a required field is gone
field-removed          an optional field is gone and extra fields are forbidden
field-renamed          a field is gone and a new one has the same schema (title aside): reported
                       once, naming both, instead of the removal and the addition; breaking
                       even for optional fields of a model that allows extra fields (consumers
                       would silently lose the value)
field-became-required  an optional field lost its default
type-changed           no old type is accepted any more (``string`` -> ``integer``, ``number``
                       -> ``integer``), or a tuple's length changed
type-narrowed          some old type is not accepted any more (``null`` dropped from
                       ``str | None``; ``Literal["a", 1]`` -> ``int`` no longer accepts ``"a"``)
enum-value-removed     an enum (``Literal``) lost a value
constraint-tightened   a bound, length, pattern, format or item count got stricter, or extra
                       fields became forbidden
version-removed        a snapshotted version is no longer declared
====================== =================================================================

Compatible changes are reported too (``optional-field-added``, ``enum-widened``,
``constraint-relaxed``, ``type-widened``, ``field-became-optional``, ``new-version``).
A breaking change needs a new event version (with an upcaster from the old one). Arrays are
compared item by item: ``items``, and each position of a tuple (``prefixItems``, path ``x[0]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bus.schema.registry import Registry
from bus.schema.shapes import (
    Bound,
    accepts,
    describe,
    item_schema,
    items_text,
    lower_bound,
    prefix_items,
    renames,
    split_values,
    type_of,
    upper_bound,
    values_of,
)
from bus.schema.snapshot import Schema, SchemaKey, current_schemas, load_snapshots


@dataclass(frozen=True)
class Change:
    """One difference between a snapshot and the model, named by event, version, field and rule."""

    event: str
    version: int
    field: str
    rule: str
    detail: str
    breaking: bool

    def __str__(self) -> str:
        where = f"field {self.field!r}" if self.field else "event"
        kind = "BREAKING" if self.breaking else "compatible"
        return f"{self.event} v{self.version}: {where}: {self.detail} [{kind}: {self.rule}]"


def check_snapshots(registry: Registry, snapshot_dir: Path) -> list[Change]:
    """Every change between the committed snapshot and the registry's models."""
    snapshots = load_snapshots(snapshot_dir)
    current = current_schemas(registry)
    changes: list[Change] = []
    for key in sorted(snapshots.keys() - current.keys()):
        changes.append(
            Change(
                key.event,
                key.version,
                "",
                "version-removed",
                f"in the snapshot ({key.filename}) but no longer declared; delete the file "
                "if retiring this version is intended",
                True,
            )
        )
    for key in sorted(current.keys() - snapshots.keys()):
        changes.append(
            Change(
                key.event,
                key.version,
                "",
                "new-version",
                "not in the snapshot yet (run `bus schemas export`)",
                False,
            )
        )
    for key in sorted(current.keys() & snapshots.keys()):
        changes.extend(compare_schemas(key, snapshots[key], current[key]))
    return changes


def compare_schemas(key: SchemaKey, old: Schema, new: Schema) -> list[Change]:
    """The changes from ``old`` to ``new`` (two JSON Schemas of one event version)."""
    comparer = _Comparer(key, old.get("$defs", {}), new.get("$defs", {}))
    comparer.compare("", old, new)
    return comparer.changes


class _Comparer:
    def __init__(self, key: SchemaKey, old_defs: Schema, new_defs: Schema) -> None:
        self.key = key
        self.old_defs = old_defs
        self.new_defs = new_defs
        self.changes: list[Change] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, path: str, rule: str, detail: str, breaking: bool) -> None:
        self.changes.append(Change(self.key.event, self.key.version, path, rule, detail, breaking))

    def _child(self) -> _Comparer:
        child = _Comparer(self.key, self.old_defs, self.new_defs)
        child._seen = self._seen
        return child

    # -- schema plumbing ----------------------------------------------------------------------

    @staticmethod
    def _resolve(s: Schema, defs: Schema) -> Schema:
        for _ in range(50):
            ref = s.get("$ref")
            if not isinstance(ref, str):
                return s
            target = defs.get(ref.rsplit("/", 1)[-1], {})
            s = {**target, **{k: v for k, v in s.items() if k != "$ref"}}
        return s

    def _alternatives(self, s: Schema, defs: Schema) -> list[Schema]:
        s = self._resolve(s, defs)
        for key in ("anyOf", "oneOf"):
            if isinstance(s.get(key), list):
                return [alt for branch in s[key] for alt in self._alternatives(branch, defs)]
        if isinstance(s.get("type"), list):
            return [{**s, "type": t} for t in s["type"]]
        return split_values(s)

    # -- comparison ----------------------------------------------------------------------------

    def compare(self, path: str, old: Schema, new: Schema) -> None:
        refs = (str(old.get("$ref", "")), str(new.get("$ref", "")))
        if all(refs):
            if refs in self._seen:  # a recursive model: this pair is being compared already
                return
            self._seen.add(refs)
        try:
            self._compare_alternatives(path, old, new)
        finally:
            self._seen.discard(refs)

    def _compare_alternatives(self, path: str, old: Schema, new: Schema) -> None:
        olds = self._alternatives(old, self.old_defs)
        news = self._alternatives(new, self.new_defs)
        uncovered = [o for o in olds if not self._cover(path, o, news)]
        if uncovered and len(uncovered) == len(olds):
            was = " or ".join(describe(o) for o in olds)
            now = " or ".join(describe(n) for n in news)
            self.add(path, "type-changed", f"type changed from {was} to {now}", True)
            return
        else:
            for o in uncovered:
                self.add(path, "type-narrowed", f"no longer accepts {describe(o)}", True)
        old_types = {type_of(o) for o in olds}
        for n in news:
            if type_of(n) not in old_types and type_of(n) != "enum":
                self.add(path, "type-widened", f"now also accepts {describe(n)}", False)

    def _cover(self, path: str, old: Schema, news: list[Schema]) -> bool:
        candidates = [n for n in news if accepts(n, old)]
        if values_of(old) is None:
            candidates = [n for n in candidates if type_of(old) != "any" or type_of(n) == "any"]
        first: list[Change] | None = None
        for new in candidates:
            child = self._child()
            child._compare_same(path, old, new)
            if not any(c.breaking for c in child.changes):
                self.changes.extend(child.changes)
                return True
            first = child.changes if first is None else first
        if first is None:
            return False
        self.changes.extend(first)
        return True

    def _compare_same(self, path: str, old: Schema, new: Schema) -> None:
        if self._compare_values(path, old, new):
            return
        if type_of(old) == "integer" and type_of(new) == "number":
            self.add(path, "type-widened", "integer became number", False)
        self._compare_bounds(path, old, new)
        self._compare_lengths(path, old, new)
        self._compare_text(path, old, new)
        if "array" in (type_of(old), type_of(new)):
            self._compare_array(path, old, new)
        if "object" in (type_of(old), type_of(new)):
            self._compare_object(path, old, new)

    def _compare_values(self, path: str, old: Schema, new: Schema) -> bool:
        ov, nv = values_of(old), values_of(new)
        if ov is not None and nv is not None:
            for value in ov:
                if value not in nv:
                    self.add(path, "enum-value-removed", f"value {value!r} removed", True)
            added = [v for v in nv if v not in ov]
            if added:
                self.add(path, "enum-widened", f"values {added} added", False)
            return True
        if nv is not None:
            self.add(path, "constraint-tightened", f"now restricted to the values {nv}", True)
            return True
        if ov is not None:
            self.add(path, "constraint-relaxed", f"no longer restricted to {ov}", False)
            return True
        return False

    def _bound(self, path: str, what: str, old: Bound | None, new: Bound | None, sign: int) -> None:
        if old == new:
            return
        if new is None:
            self.add(path, "constraint-relaxed", f"{what} bound removed", False)
            return
        show = ("> " if new[1] else ">= ") if sign > 0 else ("< " if new[1] else "<= ")
        tighter = old is None or (sign * new[0], new[1]) > (sign * old[0], old[1])
        rule = "constraint-tightened" if tighter else "constraint-relaxed"
        self.add(path, rule, f"{what} bound is now {show}{new[0]:g}", tighter)

    def _compare_bounds(self, path: str, old: Schema, new: Schema) -> None:
        self._bound(path, "lower", lower_bound(old), lower_bound(new), 1)
        self._bound(path, "upper", upper_bound(old), upper_bound(new), -1)
        om, nm = old.get("multipleOf"), new.get("multipleOf")
        if nm is not None and nm != om and (om is None or (om / nm) % 1 != 0):
            self.add(path, "constraint-tightened", f"multipleOf is now {nm}", True)

    def _compare_lengths(self, path: str, old: Schema, new: Schema) -> None:
        for low, high, what in (
            ("minLength", "maxLength", "length"),
            ("minItems", "maxItems", "items"),
        ):
            o, n = old.get(low), new.get(low)
            if n is not None and n != o:
                tighter = o is None or n > o
                self.add(
                    path,
                    "constraint-tightened" if tighter else "constraint-relaxed",
                    f"minimum {what} is now {n}",
                    tighter,
                )
            o, n = old.get(high), new.get(high)
            if n is not None and n != o:
                tighter = o is None or n < o
                self.add(
                    path,
                    "constraint-tightened" if tighter else "constraint-relaxed",
                    f"maximum {what} is now {n}",
                    tighter,
                )

    def _compare_text(self, path: str, old: Schema, new: Schema) -> None:
        for key in ("pattern", "format"):
            o, n = old.get(key), new.get(key)
            if n is not None and n != o:
                self.add(path, "constraint-tightened", f"{key} is now {n!r}", True)
            elif o is not None and n is None:
                self.add(path, "constraint-relaxed", f"{key} {o!r} removed", False)
        if new.get("uniqueItems") and not old.get("uniqueItems"):
            self.add(path, "constraint-tightened", "items must now be unique", True)

    def _compare_array(self, path: str, old: Schema, new: Schema) -> None:
        old_prefix, new_prefix = prefix_items(old), prefix_items(new)
        if new_prefix and len(old_prefix) != len(new_prefix):  # a list may become any tuple
            was = f"a tuple of {items_text(len(old_prefix))}" if old_prefix else "a list"
            now = f"a tuple of {items_text(len(new_prefix))}"
            self.add(path, "type-changed", f"{was} became {now}", True)
        for position in range(max(len(old_prefix), len(new_prefix))):
            old_item, new_item = (
                item_schema(old, old_prefix, position),
                item_schema(new, new_prefix, position),
            )
            if isinstance(old_item, dict) and isinstance(new_item, dict):
                self.compare(f"{path}[{position}]", old_item, new_item)
        old_items, new_items = old.get("items"), new.get("items")
        if isinstance(old_items, dict) and isinstance(new_items, dict):
            self.compare(f"{path}[]", old_items, new_items)

    def _compare_object(self, path: str, old: Schema, new: Schema) -> None:
        oprops: Schema = old.get("properties", {})
        nprops: Schema = new.get("properties", {})
        oreq, nreq = set(old.get("required", [])), set(new.get("required", []))
        closed = new.get("additionalProperties") is False
        renamed = renames(oprops, nprops)
        for name in oprops:
            field = f"{path}.{name}" if path else name
            if name in renamed:
                new_field = f"{path}.{renamed[name]}" if path else renamed[name]
                # Breaking as the removal alone would be; an optional field of an open model that
                # goes while another of the same (often generic) schema comes may be unrelated.
                breaking = name in oreq or closed
                text = (
                    f"renamed to {new_field!r} (removed, and a field with the same schema "
                    "added); consumers lose the value"
                    if breaking
                    else f"possibly renamed to {new_field!r} (removed, and a field with the same "
                    "schema added); events that carry it are still accepted, its value unread"
                )
                self.add(field, "field-renamed", text, breaking)
            elif name not in nprops:
                self._removed(field, name in oreq, closed)
            else:
                if name in nreq and name not in oreq:
                    self.add(field, "field-became-required", "no longer has a default", True)
                if name in oreq and name not in nreq:
                    self.add(field, "field-became-optional", "now has a default", False)
                self.compare(field, oprops[name], nprops[name])
        for name in sorted(nprops.keys() - oprops.keys() - set(renamed.values())):
            field = f"{path}.{name}" if path else name
            if name in nreq:
                self.add(field, "required-field-added", "new field without a default", True)
            else:
                self.add(field, "optional-field-added", "new optional field", False)
        self._compare_extra(path, old.get("additionalProperties"), new.get("additionalProperties"))

    def _removed(self, field: str, required: bool, closed: bool) -> None:
        if required:
            self.add(field, "required-field-removed", "required field removed", True)
        elif closed:
            self.add(
                field,
                "field-removed",
                "field removed; events that still carry it are rejected (extra fields forbidden)",
                True,
            )
        else:
            self.add(field, "field-removed", "optional field removed", False)

    def _compare_extra(self, path: str, old: object, new: object) -> None:
        if new is False and old is not False:
            self.add(path, "constraint-tightened", "extra fields are now forbidden", True)
        elif isinstance(old, dict) and isinstance(new, dict):
            self.compare(f"{path}{{}}", old, new)
