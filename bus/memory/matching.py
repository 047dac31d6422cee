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

A pattern is compiled once (``compile_pattern``, cached per pattern object; subscriptions and rules
keep theirs) into closures that test the cheapest keys first; one match value against one scalar
is ``bus.memory.operators``. A compiled pattern also knows the quoted strings a body must contain
to match (``Compiled.may_match``), so most bodies a body-scoped policy rejects are never parsed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bus.jsontext import loads
from bus.memory.operators import Predicate, compile_value

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
    exact: tuple[str, frozenset[str]] | None = None
    """A pattern of one key and exact strings (the commonest filter policy): the key and them."""

    def match_attributes(
        self, attributes: Mapping[str, Mapping[str, Any]], values: dict[str, Any]
    ) -> bool:
        """Whether the pattern, as a filter policy, matches SNS message ``attributes``.
        ``values`` holds the attributes converted so far for this message (policies of one topic
        share it): the ones this pattern reads are added."""
        if self.exact is not None:  # a String attribute's value is compared as it is
            attribute = attributes.get(self.exact[0])
            if attribute is not None and attribute.get("DataType") == "String":
                text = attribute.get("StringValue")
                if type(text) is str:
                    return text in self.exact[1]
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
    done = Compiled(
        _compile_object(pattern), tuple(_needles(pattern)), tuple(_keys(pattern)), _exact(pattern)
    )
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
                document = loads(body)
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
            values = loads(str(text))
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


def _exact(pattern: Mapping[str, Any]) -> tuple[str, frozenset[str]] | None:
    if len(pattern) != 1:
        return None
    ((key, rule),) = pattern.items()
    if key == "$or" or not isinstance(rule, list) or not all(type(r) is str for r in rule):
        return None
    return key, frozenset(rule)


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
    if len(checks) == 3:  # EventBridge's usual source, detail-type and one detail key
        one, two, three = checks
        return lambda nodes: one(nodes) and two(nodes) and three(nodes)

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
    object, the common case, and a last key of match values (``total``) is read at its end;
    otherwise (arrays, missing fields) each level gathers its objects."""
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
    leaf: str = ""
    one: Predicate | None = None
    missing = False
    if len(rule) == 1 and "$or" not in rule:  # the chain ends in one key of match values
        ((leaf, values),) = rule.items()
        one, missing = _compile_leaf(values)

    def walked(nodes: Sequence[Node]) -> bool:
        if len(nodes) == 1:
            node: Any = nodes[0]
            for step in path:
                node = node.get(step)
                if type(node) is not dict:
                    return nested(nodes)
            if one is not None:  # what ``last`` does with one object, inline
                value = node.get(leaf, _MISSING)
                if type(value) in _SCALARS:
                    return one(value)
                if value is _MISSING:
                    return missing
            return last((node,))
        return nested(nodes)

    return walked


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _compile_leaf(rules: Sequence[Any]) -> tuple[Predicate, bool]:
    """Whether any of ``rules`` (match values) matches one scalar, and whether they match a
    field that is missing (or holds no scalars): only ``{"exists": false}`` does."""
    exact = frozenset(r for r in rules if type(r) is str)
    exists = [bool(r["exists"]) for r in rules if isinstance(r, dict) and "exists" in r]
    predicates = [
        compile_value(r)
        for r in rules
        if type(r) is not str and not (isinstance(r, dict) and "exists" in r)
    ]
    missing = False in exists
    if True in exists:
        return (lambda value: True), missing
    if not predicates:
        return (lambda value: type(value) is str and value in exact), missing
    if not exact and len(predicates) == 1:
        return predicates[0], missing  # one operator (a numeric range, say): no loop around it

    def one(value: Any) -> bool:
        if exact and type(value) is str and value in exact:  # a string equals only strings
            return True
        for predicate in predicates:  # noqa: SIM110 (a loop: cheaper than any())
            if predicate(value):
                return True
        return False

    return one, missing
