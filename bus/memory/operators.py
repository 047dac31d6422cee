"""One match value of a filter policy or event pattern against one scalar: interpreted
(``value_matches``) and compiled into a predicate (``compile_value``), for ``bus.memory.matching``.

Values match by type: a string only string operators, a number only numbers and ``numeric``
(compared as doubles), ``null`` and booleans only themselves; ``anything-but`` of a string
operator matches every number and ``null``.
"""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

Predicate = Callable[[Any], bool]


def compile_value(rule: Any) -> Predicate:
    """One match value (not a plain string, not ``exists``) as a predicate over one scalar."""
    if isinstance(rule, dict) and len(rule) == 1:
        ((op, arg),) = rule.items()
        if op == "numeric" and isinstance(arg, list):
            return _compile_numeric(arg)
        if op in ("prefix", "suffix") and isinstance(arg, str):
            test = str.startswith if op == "prefix" else str.endswith
            return lambda value: isinstance(value, str) and test(value, arg)
    elif is_number(rule):
        number = float(rule)
        return lambda value: is_number(value) and float(value) == number
    return lambda value: value_matches(rule, value)


def _compile_numeric(arg: Sequence[Any]) -> Predicate:
    bounds = [(_COMPARE[op], float(bound)) for op, bound in zip(arg[0::2], arg[1::2], strict=False)]
    if len(bounds) == 1:
        ((test, bound),) = bounds

        def between(value: Any) -> bool:
            kind = type(value)  # an int or a float: is_number without calling it
            if kind is int or kind is float or is_number(value):
                return test(float(value), bound)
            return False

        return between

    def numeric(value: Any) -> bool:
        if not is_number(value):
            return False
        number = float(value)
        for test, bound in bounds:  # noqa: SIM110 (a loop: cheaper than all())
            if not test(number, bound):
                return False
        return True

    return numeric


def is_number(value: Any) -> bool:
    kind = type(value)
    if kind is int or kind is float:
        return True
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(rule: Any, value: Any) -> bool:
    if rule is None or isinstance(rule, bool):
        return value is rule
    if is_number(rule):
        return is_number(value) and float(value) == float(rule)
    return isinstance(value, str) and value == rule


def value_matches(rule: Any, value: Any) -> bool:
    """Whether one scalar ``value`` matches one match value (a literal or an operator)."""
    if not isinstance(rule, dict):
        return _equal(rule, value)
    ((op, arg),) = rule.items()
    if op == "numeric":
        return is_number(value) and _numeric(arg, float(value))
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
