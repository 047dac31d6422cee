"""Syntax checks for SNS subscription filter policies and EventBridge event patterns (pure).

Both languages share one shape: an object whose keys name message fields and whose values are
either a non-empty list of match values or (where nesting is allowed) a nested object; ``$or``
holds a list of alternative objects. A match value is a string, number, boolean or null, or an
operator object with exactly one key. The operators and their shapes follow the AWS guides
("Amazon SNS subscription filter policies", "Comparison operators for use in event patterns in
Amazon EventBridge"); SNS's limits (at most 5 keys, at most 150 value combinations) follow
"Filter policy constraints in Amazon SNS".
"""

from __future__ import annotations

import difflib
import ipaddress
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

KeyPath = tuple[str | int, ...]
FilterPolicyScope = Literal["MessageAttributes", "MessageBody"]

SNS_MAX_KEYS = 5
SNS_MAX_COMBINATIONS = 150
NUMERIC_OPERATORS = ("=", "<", "<=", ">", ">=")
_LOWER_BOUNDS = (">", ">=")
_UPPER_BOUNDS = ("<", "<=")
_COMMON = frozenset(
    {"prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "cidr"}
)


@dataclass(frozen=True)
class PatternIssue:
    """One problem in a pattern; ``path`` is relative to the pattern's root."""

    path: KeyPath
    message: str


@dataclass(frozen=True)
class _Dialect:
    what: str
    operators: frozenset[str]
    anything_but: frozenset[str]
    """Operators allowed inside ``{"anything-but": {...}}``."""
    nesting: bool
    ignore_case_affixes: bool
    """``prefix``/``suffix`` may take ``{"equals-ignore-case": "..."}``."""


_EVENTBRIDGE = _Dialect(
    what="EventBridge event patterns",
    operators=_COMMON | {"wildcard"},
    anything_but=frozenset({"prefix", "suffix", "wildcard", "equals-ignore-case"}),
    nesting=True,
    ignore_case_affixes=True,
)


def _sns(scope: FilterPolicyScope) -> _Dialect:
    return _Dialect(
        what="SNS filter policies",
        operators=_COMMON,
        anything_but=frozenset({"prefix"}),
        nesting=scope == "MessageBody",
        ignore_case_affixes=False,
    )


def check_event_pattern(pattern: Mapping[str, Any]) -> list[PatternIssue]:
    """Problems in an EventBridge event pattern (empty when it is well-formed)."""
    if not pattern:
        return [PatternIssue((), "an event pattern must not be empty")]
    return list(_Walker(_EVENTBRIDGE).object(pattern, ()))


def check_filter_policy(
    policy: Mapping[str, Any], scope: FilterPolicyScope = "MessageAttributes"
) -> list[PatternIssue]:
    """Problems in an SNS filter policy for ``scope`` (empty when it is well-formed)."""
    if not policy:
        return [
            PatternIssue((), "a filter policy must not be empty (omit it to receive everything)")
        ]
    issues = list(_Walker(_sns(scope)).object(policy, ()))
    keys = [k for k in policy if k != "$or"]
    if len(keys) > SNS_MAX_KEYS:
        issues.append(PatternIssue((), f"has {len(keys)} keys; SNS allows at most {SNS_MAX_KEYS}"))
    if not issues:
        combinations = _combinations(policy)
        if combinations > SNS_MAX_COMBINATIONS:
            issues.append(
                PatternIssue(
                    (),
                    f"is too complex: {combinations} value combinations; "
                    f"SNS allows at most {SNS_MAX_COMBINATIONS}",
                )
            )
    return issues


def _combinations(policy: Mapping[str, Any], depth: int = 1, start: int = 1) -> int:
    """SNS's complexity: the product of each array's length times its nesting depth, with
    ``$or`` branches added (the worked example in "Filter policy constraints in Amazon SNS")."""
    total = start
    for key, value in policy.items():
        if key == "$or" and isinstance(value, list):
            total = sum(_combinations(branch, depth, total) for branch in value)
        elif isinstance(value, dict):
            total = _combinations(value, depth + 1, total)
        elif isinstance(value, list):
            total *= len(value) * depth
    return total


class _Walker:
    def __init__(self, dialect: _Dialect) -> None:
        self.d = dialect

    def object(self, obj: Mapping[str, Any], path: KeyPath) -> Iterator[PatternIssue]:
        for key, value in obj.items():
            here = (*path, key)
            if key == "$or":
                yield from self._or(value, here)
            elif isinstance(value, dict):
                if not self.d.nesting:
                    yield PatternIssue(
                        here,
                        "nested objects need filter_policy_scope: MessageBody; with "
                        "MessageAttributes each key maps to a list of values",
                    )
                elif not value:
                    yield PatternIssue(here, "a nested object must not be empty")
                else:
                    yield from self.object(value, here)
            elif isinstance(value, list):
                yield from self._values(value, here)
            else:
                shape = (
                    "a list of values or a nested object" if self.d.nesting else "a list of values"
                )
                yield PatternIssue(
                    here, f"must be {shape}, got {_show(value)} (write [{_show(value)}])"
                )

    def _or(self, value: Any, path: KeyPath) -> Iterator[PatternIssue]:
        if not isinstance(value, list) or len(value) < 2:
            yield PatternIssue(path, "$or takes a list of at least two alternative objects")
            return
        for i, branch in enumerate(value):
            if not isinstance(branch, dict) or not branch:
                yield PatternIssue((*path, i), "each $or alternative must be a non-empty object")
            else:
                yield from self.object(branch, (*path, i))

    def _values(self, values: list[Any], path: KeyPath) -> Iterator[PatternIssue]:
        if not values:
            yield PatternIssue(path, "an empty list matches nothing; give at least one value")
        for i, value in enumerate(values):
            if isinstance(value, dict):
                yield from self._operator(value, (*path, i))
            elif isinstance(value, list):
                yield PatternIssue(
                    (*path, i), "lists cannot be nested: write the values in one list"
                )
            elif not _is_scalar(value):
                yield PatternIssue(
                    (*path, i), f"must be a string, number, true, false or null, got {_show(value)}"
                )

    def _operator(self, obj: Mapping[str, Any], path: KeyPath) -> Iterator[PatternIssue]:
        if len(obj) != 1:
            keys = ", ".join(str(k) for k in obj) or "none"
            yield PatternIssue(path, f"an operator object has exactly one key, got: {keys}")
            return
        ((op, value),) = obj.items()
        here = (*path, op)
        if op not in self.d.operators:
            yield PatternIssue(here, self._unknown(op))
            return
        yield from self._shape(op, value, here)

    def _unknown(self, op: str) -> str:
        if op == "wildcard":
            return f"operator 'wildcard' is not supported in {self.d.what}"
        known = ", ".join(sorted(self.d.operators))
        close = difflib.get_close_matches(op, sorted(self.d.operators), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return f"unknown operator '{op}'{hint}; known: {known}"

    def _shape(self, op: str, value: Any, path: KeyPath) -> Iterator[PatternIssue]:
        if op in ("prefix", "suffix"):
            yield from self._affix(op, value, path)
        elif op in ("equals-ignore-case", "wildcard"):
            yield from _string(op, value, path)
        elif op == "anything-but":
            yield from self._anything_but(value, path)
        elif op == "numeric":
            yield from _numeric(value, path)
        elif op == "exists":
            if not isinstance(value, bool):
                yield PatternIssue(path, f"exists takes true or false, got {_show(value)}")
        elif op == "cidr":
            yield from _cidr(value, path)

    def _affix(self, op: str, value: Any, path: KeyPath) -> Iterator[PatternIssue]:
        if isinstance(value, dict) and self.d.ignore_case_affixes:
            if list(value) != ["equals-ignore-case"]:
                yield PatternIssue(path, f"{op} takes a string or {{equals-ignore-case: string}}")
            else:
                yield from _string(op, value["equals-ignore-case"], (*path, "equals-ignore-case"))
        else:
            yield from _string(op, value, path)

    def _anything_but(self, value: Any, path: KeyPath) -> Iterator[PatternIssue]:
        if isinstance(value, list):
            if not value:
                yield PatternIssue(path, "anything-but with an empty list excludes nothing")
            for i, item in enumerate(value):
                if isinstance(item, bool) or not isinstance(item, str | int | float):
                    yield PatternIssue(
                        (*path, i), f"anything-but lists hold strings or numbers, got {_show(item)}"
                    )
        elif isinstance(value, dict):
            allowed = " or ".join(sorted(self.d.anything_but))
            if len(value) != 1 or next(iter(value)) not in self.d.anything_but:
                keys = ", ".join(str(k) for k in value) or "nothing"
                yield PatternIssue(
                    path, f"anything-but takes an object with one of {allowed}, got {keys}"
                )
                return
            ((inner, arg),) = value.items()
            if isinstance(arg, list) and self.d.ignore_case_affixes:
                for i, item in enumerate(arg):
                    yield from _string(f"anything-but {inner}", item, (*path, inner, i))
            else:
                yield from _string(f"anything-but {inner}", arg, (*path, inner))
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            yield PatternIssue(
                path,
                f"anything-but takes a string, a number, a list or an object, got {_show(value)}",
            )


def _string(op: str, value: Any, path: KeyPath) -> Iterator[PatternIssue]:
    if not isinstance(value, str):
        yield PatternIssue(path, f"{op} takes a string, got {_show(value)}")
    elif op.endswith("wildcard") and "**" in value:
        yield PatternIssue(path, f"wildcard '{value}' has consecutive '*' characters")


def _numeric(value: Any, path: KeyPath) -> Iterator[PatternIssue]:
    shape = "numeric takes [operator, number] or [>|>=, low, <|<=, high]"
    if not isinstance(value, list) or len(value) not in (2, 4):
        yield PatternIssue(path, f"{shape}, got {_show(value)}")
        return
    ops, nums = value[0::2], value[1::2]
    for i, (op, num) in enumerate(zip(ops, nums, strict=True)):
        if op not in NUMERIC_OPERATORS:
            yield PatternIssue(
                (*path, 2 * i), f"unknown numeric operator {_show(op)}; use one of = < <= > >="
            )
        if not _is_number(num):
            yield PatternIssue(
                (*path, 2 * i + 1), f"numeric needs a number after {op}, got {_show(num)}"
            )
    if len(value) == 4 and all(_is_number(n) for n in nums):
        if ops[0] not in _LOWER_BOUNDS or ops[1] not in _UPPER_BOUNDS:
            yield PatternIssue(
                path, f"a numeric range is [>|>=, low, <|<=, high], got {_show(value)}"
            )
        elif nums[0] >= nums[1]:
            yield PatternIssue(path, f"numeric range is empty: {nums[0]} is not below {nums[1]}")


def _cidr(value: Any, path: KeyPath) -> Iterator[PatternIssue]:
    if not isinstance(value, str) or "/" not in value:
        yield PatternIssue(path, f"cidr takes a network like '10.0.0.0/24', got {_show(value)}")
        return
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        yield PatternIssue(path, f"cidr {value!r} is not a valid IP network: {exc}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return json.dumps(value, default=str)
    return str(value)
