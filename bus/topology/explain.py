"""pydantic's validation errors for a topology, explained in words at the right place.

pydantic says ``('queues', 'billing', 'dead_letter', 'DeadLetter', 'max_receive_count')`` and
"Input should be greater than or equal to 1"; a user wants ``queues.billing.dead_letter.
max_receive_count: must be between 1 and 1000, got 0`` on the line where they wrote the 0. The
``loc`` is walked alongside the model's types (to know field bounds, allowed literals and known
keys, and to recognise union branch tags, which are not in the document) and alongside the data.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic_core import ErrorDetails

from bus.topology.document import Document
from bus.topology.model import Topology
from bus.topology.patterns import KeyPath

_PATTERNS = {
    r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$": "an import path like 'package.module:attribute'",
    r"^[a-z0-9][a-z0-9-]*$": "lowercase letters, digits and '-', starting with a letter or digit",
    r"^[\.\-_A-Za-z0-9]+$": "letters, digits, '.', '-' and '_' only",
}


@dataclass(frozen=True)
class Explained:
    """One structural problem: where (``path``; at its key when ``at_key``), what, and which part
    of the document to cut away (``cut``) before running the semantic checks."""

    path: KeyPath
    message: str
    at_key: bool
    cut: KeyPath


@dataclass(frozen=True)
class _Spot:
    path: KeyPath
    annotation: Any
    owner: type[BaseModel] | None
    """The model whose field the last ``loc`` element names (``None`` inside dicts and lists)."""
    branch: str | None
    branch_at: KeyPath | None
    key_error: bool
    union: tuple[Any, ...] = ()
    """The members of the union whose branch ``branch`` is, if any."""


def explain_errors(errors: Sequence[ErrorDetails], doc: Document) -> list[Explained]:
    """Explain every error; union branches are folded into one problem per place."""
    spots = [(error, _locate(error["loc"], doc.data)) for error in errors]
    out: list[Explained] = []
    unions: dict[KeyPath, list[tuple[ErrorDetails, _Spot]]] = {}
    for error, spot in spots:
        if spot.branch_at is not None:
            unions.setdefault(spot.branch_at, []).append((error, spot))
        else:
            out.append(_explain(error, spot, doc))
    for where, group in unions.items():
        out.extend(_explain_union(where, group, doc))
    return out


def _explain_union(
    where: KeyPath, group: list[tuple[ErrorDetails, _Spot]], doc: Document
) -> list[Explained]:
    value = _get(doc.data, where)
    if isinstance(value, dict):
        models = [(e, s) for e, s in group if _is_model_name(s.branch)]
        return [_explain(e, s, doc) for e, s in models or group]
    members = group[0][1].union
    wanted = " or ".join(_describe(m) for m in members) or "something else"
    return [Explained(where, f"must be {wanted}, got {_show(value)}", False, where)]


def _is_model_name(tag: str | None) -> bool:
    return bool(tag) and not str(tag).startswith(("literal[", "str", "int", "bool"))


def _describe(member: Any) -> str:
    if isinstance(member, type) and issubclass(member, BaseModel):
        return "a mapping"
    if typing.get_origin(member) is Literal:
        return " or ".join(_show(v) for v in typing.get_args(member))
    return getattr(member, "__name__", str(member))


# -- locating a loc in the model and in the data --------------------------------------------------


def _locate(loc: Iterable[int | str], data: Any) -> _Spot:
    tp: Any = Topology
    node = data
    path: list[Any] = []
    owner: type[BaseModel] | None = None
    branch: str | None = None
    branch_at: KeyPath | None = None
    union: tuple[Any, ...] = ()
    for part in loc:
        tp = _unwrap(tp)
        if part == "[key]":
            return _Spot(tuple(path), tp, None, branch, branch_at, True, union)
        members = _union_members(tp)
        if members:
            branch, branch_at, union = str(part), tuple(path), tuple(members)
            tp = _branch(members, str(part))
            continue
        tp, owner = _step(tp, part)
        key = _match_key(node, part)
        path.append(key)
        node = _child(node, key)
    return _Spot(tuple(path), _unwrap(tp), owner, branch, branch_at, False, union)


def _step(tp: Any, part: int | str) -> tuple[Any, type[BaseModel] | None]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        info = _field(tp, str(part))
        return (info.annotation if info else Any), tp
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is dict and len(args) == 2:
        return args[1], None
    if origin is list and args:
        return args[0], None
    return Any, None


def _field(model: type[BaseModel], key: str) -> Any:
    """The field ``key`` names in the document: its name, or its alias (``lambda``)."""
    fields = model.model_fields
    return fields.get(key) or next((f for f in fields.values() if f.alias == key), None)


def _keys(model: type[BaseModel]) -> list[str]:
    return sorted(f.alias or name for name, f in model.model_fields.items())


def _unwrap(tp: Any) -> Any:
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        members = _raw_members(tp)
        if members is not None and type(None) in members:
            rest = [m for m in members if m is not type(None)]
            if len(rest) == 1:
                tp = rest[0]
                continue
        return tp


def _raw_members(tp: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(tp)
    return None


def _union_members(tp: Any) -> list[Any] | None:
    members = _raw_members(tp)
    if members is None:
        return None
    return [m for m in members if m is not type(None)]


def _branch(members: list[Any], tag: str) -> Any:
    for member in members:
        if getattr(member, "__name__", None) == tag:
            return member
        if tag.startswith("literal[") and typing.get_origin(member) is Literal:
            return member
    return Any


def _match_key(node: Any, part: int | str) -> Any:
    """The document's own key for ``part`` (``True`` for pydantic's ``1``, ``1`` for ``'1'``)."""
    if isinstance(node, dict):
        for key in node:
            if key == part or str(key) == str(part):
                return key
    return part


def _child(node: Any, key: Any) -> Any:
    if isinstance(node, dict):
        return node.get(key)
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return None


def _get(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = _child(data, part)
    return data


# -- messages -------------------------------------------------------------------------------------


def _explain(error: ErrorDetails, spot: _Spot, doc: Document) -> Explained:
    kind = error["type"]
    path = spot.path
    if spot.key_error:
        return Explained(path, _key_message(error, doc.key_text.get(path)), True, path)
    if kind == "extra_forbidden":
        return Explained(path, _unknown_key(path[-1], spot), True, path)
    if kind == "missing":
        return Explained(path[:-1], f"missing required key '{path[-1]}'", True, path)
    if kind in ("value_error", "assertion_error"):
        reason = str((error.get("ctx") or {}).get("error", error["msg"]))
        return Explained(path, reason, True, path)
    return Explained(path, _value_message(error, spot), False, path)


def _key_message(error: ErrorDetails, written: str | None) -> str:
    got = _show(error["input"])
    if error["type"] == "string_type":
        read = f"{written!r} reads as {got} in YAML" if written and written != got else got
        return f"key {read}: names must be strings; quote it"
    if error["type"].startswith("int"):
        return f"key {got} must be a whole number"
    return f"key {got}: {_lower(error['msg'])}"


def _unknown_key(key: Any, spot: _Spot) -> str:
    owner = spot.owner
    known = _keys(owner) if owner is not None else []
    close = difflib.get_close_matches(str(key), known, n=1)
    if close:
        return f"unknown key (did you mean {close[0]}?)"
    return f"unknown key; expected one of: {', '.join(known)}" if known else "unknown key"


def _value_message(error: ErrorDetails, spot: _Spot) -> str:
    kind = error["type"]
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    got = _show(error["input"])
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"must be {_bounds(spot, ctx)}, got {got}"
    if kind in ("too_short", "too_long"):
        items = "entry" if ctx.get("min_length", ctx.get("max_length")) == 1 else "entries"
        limit = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        word = "at least" if kind == "too_short" else "at most"
        return f"must have {word} {limit} {items}, got {ctx.get('actual_length')}"
    if kind in ("string_too_short", "string_too_long"):
        limit = ctx.get("min_length") if kind == "string_too_short" else ctx.get("max_length")
        word = "at least" if kind == "string_too_short" else "at most"
        return f"must be {word} {limit} characters long, got {len(str(error['input']))}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return f"must be {_PATTERNS.get(pattern, f'text matching {pattern}')}, got {got}"
    if kind == "literal_error":
        return _literal_message(spot, error["input"])
    return _type_message(kind, got, error)


def _type_message(kind: str, got: str, error: ErrorDetails) -> str:
    if kind.startswith("int_"):
        return f"must be a whole number, got {got}"
    if kind.startswith(("float_", "decimal_")):
        return f"must be a number, got {got}"
    if kind.startswith("bool_"):
        return f"must be true or false, got {got}"
    if kind == "string_type":
        quote = "; quote it" if isinstance(error["input"], int | float | bool | date) else ""
        return f"must be a string, got {got}{quote}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping (key: value), got {got}"
    if kind == "list_type":
        return f"must be a list, got {got}"
    return f"{_lower(error['msg'])}, got {got}"


def _bounds(spot: _Spot, ctx: Mapping[str, Any]) -> str:
    low: Any = ctx.get("ge", ctx.get("gt"))
    high: Any = ctx.get("le", ctx.get("lt"))
    strict_low, strict_high = "gt" in ctx, "lt" in ctx
    info = spot.owner.model_fields.get(str(spot.path[-1])) if spot.owner and spot.path else None
    for meta in info.metadata if info else []:
        if isinstance(meta, Ge):
            low, strict_low = meta.ge, False
        elif isinstance(meta, Gt):
            low, strict_low = meta.gt, True
        elif isinstance(meta, Le):
            high, strict_high = meta.le, False
        elif isinstance(meta, Lt):
            high, strict_high = meta.lt, True
    if low is not None and high is not None and not (strict_low or strict_high):
        return f"between {low} and {high}"
    if low is not None:
        return f"{'greater than' if strict_low else 'at least'} {low}"
    return f"{'less than' if strict_high else 'at most'} {high}"


def _literal_message(spot: _Spot, value: Any) -> str:
    options = (
        list(typing.get_args(spot.annotation))
        if typing.get_origin(spot.annotation) is Literal
        else []
    )
    shown = ", ".join(_show(o) for o in options)
    close = difflib.get_close_matches(str(value), [str(o) for o in options], n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"must be one of {shown}, got {_show(value)}{hint}"


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)
