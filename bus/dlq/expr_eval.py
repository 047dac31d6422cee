"""Evaluating a parsed filter expression (``bus.dlq.expr``) against one dead letter: the syntax
tree, comparison rules (mismatched types are false, never an error) and the RE2 patterns of
``matches`` (linear time in the text, whatever the pattern)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import re2

Resolver = Callable[[Sequence[str | int]], Any]
"""Looks a path up in one dead letter; ``MISSING`` when it is not there."""


class _Missing:
    def __repr__(self) -> str:
        return "null"


MISSING: Any = _Missing()


class Pattern(Protocol):
    """A compiled RE2 pattern (``google-re2`` ships no type hints)."""

    def search(self, text: str) -> object | None: ...


def compile_pattern(pattern: str) -> Pattern:
    """Compile ``pattern`` with RE2; ``ValueError`` says why it is not one RE2 accepts."""
    options = re2.Options()
    options.log_errors = False  # RE2 would print parse errors on stderr
    try:
        compiled: Pattern = re2.compile(pattern, options=options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        raise ValueError(reason.decode() if isinstance(reason, bytes) else str(reason)) from exc
    except UnicodeEncodeError as exc:
        raise ValueError("the pattern holds a lone surrogate") from exc
    return compiled


def search(pattern: Pattern, text: str) -> bool:
    """Whether ``pattern`` occurs in ``text``: linear time in ``len(text)``, for any pattern."""
    try:
        return pattern.search(text) is not None
    except UnicodeEncodeError:  # lone surrogates (JSON may hold "\ud800"): RE2 takes UTF-8
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return pattern.search(text) is not None


# -- AST ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    value: Any

    def evaluate(self, resolve: Resolver) -> Any:
        return self.value


@dataclass(frozen=True)
class Path:
    parts: tuple[str | int, ...]

    def evaluate(self, resolve: Resolver) -> Any:
        return resolve(self.parts)

    def __str__(self) -> str:
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.parts)[1:]


@dataclass(frozen=True)
class Not:
    operand: Node

    def evaluate(self, resolve: Resolver) -> Any:
        return not truthy(self.operand.evaluate(resolve))


@dataclass(frozen=True)
class BoolOp:
    op: str
    operands: tuple[Node, ...]

    def evaluate(self, resolve: Resolver) -> Any:
        if self.op == "and":
            return all(truthy(o.evaluate(resolve)) for o in self.operands)
        return any(truthy(o.evaluate(resolve)) for o in self.operands)


@dataclass(frozen=True)
class Compare:
    op: str
    left: Node
    right: Node
    pattern: Pattern | None = None

    def evaluate(self, resolve: Resolver) -> Any:
        if self.pattern is not None:  # matches: compiled when parsed
            left = self.left.evaluate(resolve)
            return isinstance(left, str) and search(self.pattern, left)
        return compare(self.op, self.left.evaluate(resolve), self.right.evaluate(resolve))


Node = Literal | Path | Not | BoolOp | Compare


@dataclass(frozen=True)
class Expression:
    """A parsed filter. ``matches(resolve)`` evaluates it for one dead letter."""

    source: str
    root: Node
    paths: tuple[Path, ...]

    def matches(self, resolve: Resolver) -> bool:
        return truthy(self.root.evaluate(resolve))


# -- evaluation -----------------------------------------------------------------------------------


def truthy(value: Any) -> bool:
    return value is not MISSING and value is not None and bool(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(left: Any, right: Any) -> bool:
    if left is MISSING:
        left = None
    if right is MISSING:
        right = None
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    return bool(left == right)


def compare(op: str, left: Any, right: Any) -> bool:
    """Apply one comparison operator; mismatched types are ``False``, never an error.

    (``matches`` compiles ``right`` here; a parsed expression uses the pattern it compiled once.)
    """
    if op == "==":
        return _equal(left, right)
    if op == "!=":
        return not _equal(left, right)
    if op in ("<", "<=", ">", ">="):
        return _order(op, left, right)
    if op == "in":
        return _contains(right, left)
    if op == "not in":
        return not _contains(right, left)
    if op == "contains":
        return _contains(left, right)
    if op == "startswith":
        return isinstance(left, str) and isinstance(right, str) and left.startswith(right)
    if op == "matches":
        if not (isinstance(left, str) and isinstance(right, str)):
            return False
        try:
            return search(compile_pattern(right), left)
        except ValueError:
            return False
    raise ValueError(f"unknown operator {op}")


def _order(op: str, left: Any, right: Any) -> bool:
    if not ((_is_number(left) and _is_number(right)) or (type(left) is str is type(right))):
        return False
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list | tuple):
        return any(_equal(element, item) for element in container)
    if isinstance(container, Mapping):
        return isinstance(item, str) and item in container
    return False
