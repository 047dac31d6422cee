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
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic_core import from_json

Node = Mapping[str, Any]
_MISSING = object()


Matcher = Callable[[Sequence[Node]], bool]
"""A compiled pattern: whether the pattern matches one of the given objects' fields."""


@dataclass(frozen=True, slots=True)
class Compiled:
    """A pattern compiled once: its matcher, and the quoted strings a body must contain for it to
    match (``needles``: one of each group), which reject most bodies without parsing them."""

    match: Matcher
    needles: tuple[tuple[str, ...], ...]
    keys: tuple[str, ...]
    """The top-level names the pattern reads (``$or`` branches' too)."""

    def match_attributes(
        self, attributes: Mapping[str, Mapping[str, Any]], values: dict[str, Any]
    ) -> bool:
        """Whether the pattern, as a filter policy, matches SNS message ``attributes``.
        ``values`` holds the attributes converted so far for this message (policies of one topic
        share it): the ones this pattern reads are added."""
        for key in self.keys:
            if key not in values:
                attribute = attributes.get(key)
                values[key] = _MISSING if attribute is None else _attribute_value(attribute)
        return self.match((values,))

    def may_match(self, text: str) -> bool:
        """False only if no JSON document spelled as ``text`` can match: a string the pattern
        requires appears in it (between quotes: a body without backslashes has no escapes)."""
        if not self.needles or "\\" in text:
            return True
        for group in self.needles:
            for needle in group:
                if needle in text:
                    break
            else:
                return False
        return True


def parse_json(text: str) -> Any:
    """``json.loads(text)``, by pydantic-core's parser (several times faster); where that one
    refuses what ``json`` accepts (lone surrogates, deep nesting), ``json.loads`` decides."""
    try:
        return from_json(text)
    except ValueError:
        return json.loads(text)


_COMPILED: dict[int, tuple[Mapping[str, Any], Compiled]] = {}
_COMPILED_MAX = 4096


def compile_pattern(pattern: Mapping[str, Any]) -> Compiled:
    """``pattern`` compiled, once per pattern object (patterns are parsed once, when a
    subscription or rule is set, and never changed in place). The cache holds the pattern itself,
    so an ``id`` is never reused while it is cached."""
    held = _COMPILED.get(id(pattern))
    if held is not None and held[0] is pattern:
        return held[1]
    if len(_COMPILED) >= _COMPILED_MAX:
        _COMPILED.clear()
    done = Compiled(_compile_object(pattern), tuple(_needles(pattern)), tuple(_keys(pattern)))
    _COMPILED[id(pattern)] = (pattern, done)
    return done


def compiled(pattern: Mapping[str, Any]) -> Matcher:
    """``pattern``'s matcher (``compile_pattern(pattern).match``)."""
    return compile_pattern(pattern).match


def matches_event_pattern(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether EventBridge delivers ``event`` (the full event, ``detail`` as an object) to a
    rule with ``pattern``."""
    return compile_pattern(pattern).match((event,))


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
    done = compile_pattern(policy)
    if scope == "MessageBody":
        if document is None:
            if not done.may_match(body):
                return False
            try:
                document = parse_json(body)
            except ValueError:
                return False
        return isinstance(document, dict) and done.match((document,))
    if values is None:
        return done.match_attributes(attributes, {})
    return done.match((values,))


def attribute_values(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """SNS message attributes as the values a filter policy sees."""
    out = {}
    for name, attribute in attributes.items():
        value = _attribute_value(attribute)
        if value is not _MISSING:
            out[name] = value
    return out


def _attribute_value(attribute: Mapping[str, Any]) -> Any:
    """One attribute's value as a filter policy sees it (``_MISSING``: none)."""
    data_type = attribute.get("DataType") or attribute.get("Type") or "String"
    text = attribute.get("StringValue")
    if text is None:
        text = attribute.get("Value")
    if text is None:
        return _MISSING
    if data_type == "String":
        return str(text)
    if data_type.startswith("Number"):
        number = _number(str(text))
        return _MISSING if number is None else number
    if data_type == "String.Array":
        try:
            values = parse_json(str(text))
        except ValueError:
            return _MISSING
        return values if isinstance(values, list) else _MISSING
    if data_type.startswith("Binary"):
        return _MISSING
    return str(text)


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


def _keys(pattern: Mapping[str, Any]) -> Iterator[str]:
    for key, rule in pattern.items():
        if key == "$or":
            for branch in rule:
                yield from _keys(branch)
        else:
            yield key


def _needles(pattern: Mapping[str, Any]) -> Iterator[tuple[str, ...]]:
    """For each key whose match values are all plain strings (nested keys too, not ``$or``),
    those strings quoted as JSON spells them: one of them must appear in a matching document."""
    for key, rule in pattern.items():
        if key == "$or":
            continue
        if isinstance(rule, dict):
            yield from _needles(rule)
        elif rule and all(type(r) is str and _PLAIN.fullmatch(r) for r in rule):
            yield tuple(f'"{r}"' for r in rule)


_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')
"""A string JSON writes as it is, between quotes (no escapes needed)."""


def _compile_object(pattern: Mapping[str, Any]) -> Matcher:
    """Every key must match: a ``$or`` any of its branches, a nested object the objects under
    the key, a list of match values the scalars under the key (cheapest checks first)."""
    keys = sorted(pattern.items(), key=lambda kv: 2 if kv[0] == "$or" else isinstance(kv[1], dict))
    checks: list[Matcher] = [_compile_key(key, rule) for key, rule in keys]
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda nodes: first(nodes) and second(nodes)

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
        return _compile_nested(key, rule)
    one, missing = _compile_leaf(rule)

    def scalars(nodes: Sequence[Node]) -> bool:
        if len(nodes) == 1:  # the common case: one object, a scalar under the key
            value = nodes[0].get(key, _MISSING)
            if type(value) in _SCALARS:
                return one(value)
            if value is _MISSING:
                return missing
        values = [c for c in _children(nodes, key) if not isinstance(c, dict)]
        if not values:
            return missing
        return any(one(v) for v in values)

    if all(type(r) is str for r in rule):  # only exact strings: the commonest rule
        exact = frozenset(rule)

        def strings(nodes: Sequence[Node]) -> bool:
            if len(nodes) == 1:
                value = nodes[0].get(key, _MISSING)
                if type(value) is str:
                    return value in exact
                if type(value) in _SCALARS or value is _MISSING:
                    return False  # a string equals only strings; missing: no match
            return scalars(nodes)

        return strings
    return scalars


def _compile_nested(key: str, rule: Mapping[str, Any]) -> Matcher:
    """The objects under ``key`` must match ``rule``. A chain of single-key objects
    (``{"detail": {"data": {"total": [...]}}}``) is walked in one loop while each step holds one
    object, the common case; otherwise (arrays, missing fields) each level gathers its objects."""
    inner = _compile_object(rule)

    def nested(nodes: Sequence[Node]) -> bool:
        if len(nodes) == 1:  # the common case: one object under the key
            value = nodes[0].get(key)
            if type(value) is dict:
                return inner((value,))
        return inner([c for c in _children(nodes, key) if isinstance(c, dict)])

    path = [key]
    while len(rule) == 1 and "$or" not in rule:
        ((step, below),) = rule.items()
        if not isinstance(below, dict):
            break
        path.append(step)
        rule = below
    if len(path) == 1:
        return nested
    last = _compile_object(rule)

    def walked(nodes: Sequence[Node]) -> bool:
        if len(nodes) == 1:
            node: Any = nodes[0]
            for step in path:
                node = node.get(step)
                if type(node) is not dict:
                    return nested(nodes)
            return last((node,))
        return nested(nodes)

    return walked


Predicate = Callable[[Any], bool]
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _compile_leaf(rules: Sequence[Any]) -> tuple[Predicate, bool]:
    """Whether any of ``rules`` (match values) matches one scalar, and whether they match a
    field that is missing (or holds no scalars): only ``{"exists": false}`` does."""
    exact = frozenset(r for r in rules if type(r) is str)
    exists = [bool(r["exists"]) for r in rules if isinstance(r, dict) and "exists" in r]
    predicates = [
        _compile_value(r)
        for r in rules
        if type(r) is not str and not (isinstance(r, dict) and "exists" in r)
    ]
    missing = False in exists
    if True in exists:
        return (lambda value: True), missing
    if not predicates:
        return (lambda value: type(value) is str and value in exact), missing

    def one(value: Any) -> bool:
        if exact and type(value) is str and value in exact:  # a string equals only strings
            return True
        for predicate in predicates:  # noqa: SIM110 (a loop: cheaper than any())
            if predicate(value):
                return True
        return False

    return one, missing


def _compile_value(rule: Any) -> Predicate:
    """One match value (not a plain string, not ``exists``) as a predicate over one scalar."""
    if isinstance(rule, dict) and len(rule) == 1:
        ((op, arg),) = rule.items()
        if op == "numeric" and isinstance(arg, list):
            return _compile_numeric(arg)
        if op in ("prefix", "suffix") and isinstance(arg, str):
            test = str.startswith if op == "prefix" else str.endswith
            return lambda value: isinstance(value, str) and test(value, arg)
    elif _is_number(rule):
        number = float(rule)
        return lambda value: _is_number(value) and float(value) == number
    return lambda value: _value(rule, value)


def _compile_numeric(arg: Sequence[Any]) -> Predicate:
    bounds = [(_COMPARE[op], float(bound)) for op, bound in zip(arg[0::2], arg[1::2], strict=False)]
    if len(bounds) == 1:
        ((test, bound),) = bounds
        return lambda value: _is_number(value) and test(float(value), bound)

    def numeric(value: Any) -> bool:
        if not _is_number(value):
            return False
        number = float(value)
        for test, bound in bounds:  # noqa: SIM110 (a loop: cheaper than all())
            if not test(number, bound):
                return False
        return True

    return numeric


def _is_number(value: Any) -> bool:
    kind = type(value)
    if kind is int or kind is float:
        return True
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


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
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
