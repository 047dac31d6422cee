"""Evaluate SNS filter policies and EventBridge event patterns (pure; syntax is checked by
``bus.topology.patterns``).

One evaluator serves both languages, which agree on the operators and on how objects nest:

- every key of a pattern must match (``$or`` holds alternatives); a key's list of values matches
  when any of them does;
- a field that holds an array matches when any element does, and arrays of objects are flattened
  (``{"a": {"b": [1]}}`` matches ``{"a": [{"b": 2}, {"b": 1}]}``), as both services do;
- values match by type: a string only string operators, a number only numbers and ``numeric``
  (``5`` and ``"5"`` differ), ``null`` only ``null``;
- a missing field matches only ``{"exists": false}`` (so ``anything-but`` needs the field);
  ``anything-but`` of a string operator (``prefix``, ``suffix``, ``equals-ignore-case``,
  ``wildcard``) matches every number and ``null``.

What differs is the input. EventBridge matches the event as JSON. SNS matches either the message
body as JSON (``FilterPolicyScope: MessageBody``; a body that is not a JSON object matches no
policy) or the message attributes, typed: ``String`` attributes are strings, ``Number`` attributes
numbers (compared numerically), ``String.Array`` attributes JSON arrays whose elements match as in
a body, and ``Binary`` attributes are ignored.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

Node = Mapping[str, Any]
_MISSING = object()


Matcher = Callable[[Sequence[Node]], bool]
"""A compiled pattern: whether the pattern matches one of the given objects' fields."""

_COMPILED: dict[int, tuple[Mapping[str, Any], Matcher]] = {}
_COMPILED_MAX = 4096


def compiled(pattern: Mapping[str, Any]) -> Matcher:
    """``pattern`` compiled into nested closures, once per pattern object (patterns are parsed
    once, when a subscription or rule is set, and never changed in place). The cache holds the
    pattern itself, so an ``id`` is never reused while it is cached."""
    held = _COMPILED.get(id(pattern))
    if held is not None and held[0] is pattern:
        return held[1]
    if len(_COMPILED) >= _COMPILED_MAX:
        _COMPILED.clear()
    matcher = _compile_object(pattern)
    _COMPILED[id(pattern)] = (pattern, matcher)
    return matcher


def matches_event_pattern(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether EventBridge delivers ``event`` (the full event, ``detail`` as an object) to a
    rule with ``pattern``."""
    return compiled(pattern)((event,))


def matches_filter_policy(
    policy: Mapping[str, Any] | None,
    attributes: Mapping[str, Mapping[str, Any]],
    body: str,
    scope: str = "MessageAttributes",
    *,
    document: Any = None,
    values: Mapping[str, Any] | None = None,
) -> bool:
    """Whether SNS delivers a message to a subscription with ``policy`` (``None`` or ``{}``: no
    policy, everything is delivered). ``attributes`` are in Publish's shape
    (``{"DataType": ..., "StringValue": ...}``). ``document`` (the body already parsed) and
    ``values`` (``attribute_values(attributes)``) save the work when one message meets many
    policies."""
    if not policy:
        return True
    if scope == "MessageBody":
        if document is None:
            try:
                document = json.loads(body)
            except ValueError:
                return False
        return isinstance(document, dict) and compiled(policy)((document,))
    return compiled(policy)((attribute_values(attributes) if values is None else values,))


def attribute_values(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """SNS message attributes as the values a filter policy sees."""
    out: dict[str, Any] = {}
    for name, attribute in attributes.items():
        data_type = attribute.get("DataType") or attribute.get("Type") or "String"
        text = attribute.get("StringValue")
        if text is None:
            text = attribute.get("Value")
        if text is None:
            continue
        if data_type == "String":
            out[name] = str(text)
        elif data_type.startswith("Number"):
            number = _number(str(text))
            if number is not None:
                out[name] = number
        elif data_type == "String.Array":
            try:
                values = json.loads(str(text))
            except ValueError:
                continue
            if isinstance(values, list):
                out[name] = values
        elif not data_type.startswith("Binary"):
            out[name] = str(text)
    return out


def _number(text: str) -> float | int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _flatten(value: Any) -> Iterable[Any]:
    if isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    else:
        yield value


def _children(nodes: Sequence[Node], key: str) -> list[Any]:
    """The values under ``key`` in ``nodes``, arrays flattened."""
    if len(nodes) == 1:
        value = nodes[0].get(key, _MISSING)
        if value is _MISSING:
            return []
        return list(_flatten(value)) if isinstance(value, list) else [value]
    return [
        item
        for node in nodes
        if (value := node.get(key, _MISSING)) is not _MISSING
        for item in _flatten(value)
    ]


def _compile_object(pattern: Mapping[str, Any]) -> Matcher:
    """Every key must match: a ``$or`` any of its branches, a nested object the objects under
    the key, a list of match values the scalars under the key."""
    checks: list[Matcher] = [_compile_key(key, rule) for key, rule in pattern.items()]
    if len(checks) == 1:
        return checks[0]

    def every(nodes: Sequence[Node]) -> bool:
        for check in checks:  # noqa: SIM110 (a loop: cheaper than all() over a generator)
            if not check(nodes):
                return False
        return True

    return every


def _compile_key(key: str, rule: Any) -> Matcher:
    if key == "$or":
        branches = [_compile_object(branch) for branch in rule]
        return lambda nodes: any(branch(nodes) for branch in branches)
    if isinstance(rule, dict):
        inner = _compile_object(rule)
        return lambda nodes: inner([c for c in _children(nodes, key) if isinstance(c, dict)])
    leaf = _compile_leaf(rule)

    def scalars(nodes: Sequence[Node]) -> bool:
        if len(nodes) == 1:  # the common case: one object, a scalar under the key
            value = nodes[0].get(key, _MISSING)
            if value is _MISSING:
                return leaf(())
            if not isinstance(value, list | dict):
                return leaf((value,))
        return leaf([c for c in _children(nodes, key) if not isinstance(c, dict)])

    return scalars


Leaf = Callable[[Sequence[Any]], bool]


def _compile_leaf(rules: Sequence[Any]) -> Leaf:
    """Any of ``rules`` (match values) matches one of ``values`` (a field's scalars)."""
    exact = frozenset(r for r in rules if type(r) is str)
    exists = [bool(r["exists"]) for r in rules if isinstance(r, dict) and "exists" in r]
    others = [
        r for r in rules if type(r) is not str and not (isinstance(r, dict) and "exists" in r)
    ]

    def leaf(values: Sequence[Any]) -> bool:
        if exact:
            for v in values:
                if type(v) is str and v in exact:  # a string equals only strings
                    return True
        for wanted in exists:
            if bool(values) == wanted:
                return True
        for rule in others:
            for v in values:
                if _value(rule, v):
                    return True
        return False

    return leaf


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(rule: Any, value: Any) -> bool:
    if rule is None or isinstance(rule, bool):
        return value is rule
    if _is_number(rule):
        return _is_number(value) and float(value) == float(rule)
    return isinstance(value, str) and value == rule


def _value(rule: Any, value: Any) -> bool:
    """Whether one scalar ``value`` matches one match value (a literal or an operator)."""
    if not isinstance(rule, dict):
        return _equal(rule, value)
    ((op, arg),) = rule.items()
    if op == "numeric":
        return _is_number(value) and _numeric(arg, float(value))
    if op == "anything-but":
        return _anything_but(arg, value)
    if not isinstance(value, str):
        return False
    if op in ("prefix", "suffix"):
        return _affix(op, arg, value)
    if op == "equals-ignore-case":
        return value.lower() == str(arg).lower()
    if op == "wildcard":
        return _wildcard(str(arg)).fullmatch(value) is not None
    if op == "cidr":
        return _in_network(str(arg), value)
    return False


def _affix(op: str, arg: Any, value: str) -> bool:
    if isinstance(arg, dict):  # {"equals-ignore-case": "..."} (EventBridge)
        arg, value = str(arg["equals-ignore-case"]).lower(), value.lower()
    return value.startswith(arg) if op == "prefix" else value.endswith(arg)


def _anything_but(arg: Any, value: Any) -> bool:
    if isinstance(arg, list):
        return not any(_equal(item, value) for item in arg)
    if not isinstance(arg, dict):
        return not _equal(arg, value)
    ((op, inner),) = arg.items()
    if not isinstance(value, str):
        # a string operator never matches a number or null, so "anything but" it does (as
        # AWS's event-ruler, and LocalStack after it: seen in the differential test)
        return True
    options = inner if isinstance(inner, list) else [inner]
    if op in ("prefix", "suffix"):
        return not any(_affix(op, o, value) for o in options)
    if op == "equals-ignore-case":
        return value.lower() not in {str(o).lower() for o in options}
    if op == "wildcard":
        return not any(_wildcard(str(o)).fullmatch(value) for o in options)
    return False


_COMPARE = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _numeric(arg: Sequence[Any], value: float) -> bool:
    return all(
        _COMPARE[op](value, float(bound)) for op, bound in zip(arg[0::2], arg[1::2], strict=False)
    )


@lru_cache(maxsize=1024)
def _wildcard(pattern: str) -> re.Pattern[str]:
    """``*`` matches any run of characters; ``\\*`` is a literal star."""
    parts = re.split(r"(\\\*|\*)", pattern)
    regex = "".join(".*" if p == "*" else re.escape("*" if p == "\\*" else p) for p in parts)
    return re.compile(regex, re.DOTALL)


@lru_cache(maxsize=1024)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr, strict=False)


def _in_network(cidr: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(value) in _network(cidr)
    except ValueError:
        return False
