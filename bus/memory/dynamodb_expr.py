"""DynamoDB's condition and update expressions, for the in-memory DynamoDB's items.

Condition expressions: the comparators ``= <> < <= > >=``, ``BETWEEN ... AND``, ``IN (...)``,
``attribute_exists``, ``attribute_not_exists``, ``begins_with``, ``NOT``, ``AND``, ``OR`` (in that
order of precedence, as DynamoDB's guide gives it) and parentheses, over top-level attributes named
directly or through ``#names`` and ``:values``. Update expressions: ``SET a = operand`` (an
attribute, a value, ``if_not_exists(a, :v)``, or ``x + y`` / ``x - y`` of numbers) and ``REMOVE``.
Anything else (nested paths, ``size``, ``contains``, ``attribute_type``, ``ADD``, ``DELETE``) is
refused with a ``ValidationException`` that says the in-memory DynamoDB does not support it, never
evaluated wrongly; DynamoDB's list of reserved words is not checked (name such attributes
through ``#names``, as DynamoDB requires). As DynamoDB does, values of different types are never equal (``<>`` is true, the others false), and a name or
value given in ``ExpressionAttributeNames``/``Values`` but used by no expression is an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bus.memory.errors import client_error

Item = dict[str, dict[str, Any]]
_TOKEN = re.compile(r"\s*(<>|<=|>=|[=<>(),+-]|[#:]?[A-Za-z_][A-Za-z0-9_]*|\S)")
_KEYWORDS = {"AND", "OR", "NOT", "BETWEEN", "IN"}
_UNSUPPORTED = {"size", "contains", "attribute_type", "list_append", "ADD", "DELETE"}


def validation(operation: str, message: str) -> Exception:
    return client_error(operation, "ValidationException", message)


@dataclass
class Expressions:
    """One request's ``ExpressionAttributeNames`` and ``Values``, and which of them were used."""

    operation: str
    names: Mapping[str, str]
    values: Mapping[str, dict[str, Any]]
    used: set[str] = field(default_factory=set)

    def name(self, token: str) -> str:
        if not token.startswith("#"):
            return token
        if token not in self.names:
            raise validation(self.operation, f"An expression attribute name used in the document "
                             f"path is not defined; attribute name: {token}")  # fmt: skip
        self.used.add(token)
        return self.names[token]

    def value(self, token: str) -> dict[str, Any]:
        if token not in self.values:
            raise validation(self.operation, f"An expression attribute value used in expression "
                             f"is not defined; attribute value: {token}")  # fmt: skip
        self.used.add(token)
        return self.values[token]

    def check_all_used(self) -> None:
        for kind, given in (("names", self.names), ("values", self.values)):
            unused = sorted(set(given) - self.used)
            if unused:
                raise validation(self.operation, f"Value provided in ExpressionAttribute"
                                 f"{kind.capitalize()} unused in expressions: keys: "
                                 f"{{{', '.join(unused)}}}")  # fmt: skip


Operand = Callable[[Item], "dict[str, Any] | None"]
Condition = Callable[[Item], bool]


class _Parser:
    def __init__(self, text: str, exprs: Expressions) -> None:
        self.tokens = [t for t in _TOKEN.findall(text) if t.strip()]
        self.at, self.exprs, self.text = 0, exprs, text

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token.upper() != expected):
            wanted = f"{expected!r}" if expected else "more"
            raise validation(self.exprs.operation, f"Invalid expression {self.text!r}: expected "
                             f"{wanted}, found {token or 'the end'!r}")  # fmt: skip
        self.at += 1
        return token

    def done(self) -> None:
        if self.peek() is not None:
            raise validation(self.exprs.operation, f"Invalid expression {self.text!r}: "
                             f"unexpected {self.peek()!r}")  # fmt: skip

    # condition := or ; or := and (OR and)* ; and := not (AND not)* ; not := NOT not | primary
    def condition(self) -> Condition:
        left = self.conjunction()
        while (self.peek() or "").upper() == "OR":
            self.take()
            left = _either(left, self.conjunction())
        return left

    def conjunction(self) -> Condition:
        left = self.negation()
        while (self.peek() or "").upper() == "AND":
            self.take()
            left = _both(left, self.negation())
        return left

    def negation(self) -> Condition:
        if (self.peek() or "").upper() == "NOT":
            self.take()
            inner = self.negation()
            return lambda item: not inner(item)
        return self.primary()

    def primary(self) -> Condition:
        token = self.peek() or ""
        if token == "(":
            self.take()
            inner = self.condition()
            self.take(")")
            return inner
        if token in ("attribute_exists", "attribute_not_exists", "begins_with"):
            return self.function(self.take())
        left = self.operand()
        op = self.take()
        if op.upper() == "BETWEEN":
            low = self.operand()
            self.take("AND")
            high = self.operand()
            return lambda item: (
                _compare(low(item), "<=", left(item)) and _compare(left(item), "<=", high(item))
            )
        if op.upper() == "IN":
            self.take("(")
            options = [self.operand()]
            while self.peek() == ",":
                self.take()
                options.append(self.operand())
            self.take(")")
            return lambda item: any(_compare(left(item), "=", o(item)) for o in options)
        if op not in ("=", "<>", "<", "<=", ">", ">="):
            raise validation(self.exprs.operation, f"Invalid expression {self.text!r}: "
                             f"unexpected {op!r}")  # fmt: skip
        right = self.operand()
        return lambda item: _compare(left(item), op, right(item))

    def function(self, name: str) -> Condition:
        self.take("(")
        path = self.path()
        if name == "begins_with":
            self.take(",")
            prefix = self.operand()
            self.take(")")
            return lambda item: _begins(item.get(path), prefix(item))
        self.take(")")
        if name == "attribute_exists":
            return lambda item: path in item
        return lambda item: path not in item

    def path(self) -> str:
        token = self.take()
        if token.upper() in _KEYWORDS:
            raise validation(self.exprs.operation, f"Invalid expression {self.text!r}: "
                             f"unexpected {token!r}")  # fmt: skip
        if token in _UNSUPPORTED or not re.fullmatch(r"#?[A-Za-z_][A-Za-z0-9_]*", token):
            raise _unsupported(self.exprs.operation, token)
        if self.peek() in (".", "["):
            raise _unsupported(self.exprs.operation, "nested attribute paths")
        return self.exprs.name(token)

    def operand(self) -> Operand:
        token = self.peek() or ""
        if token.startswith(":"):
            value = self.exprs.value(self.take())
            return lambda item: value
        path = self.path()
        return lambda item: item.get(path)

    # update := (SET assignment (, assignment)* | REMOVE path (, path)*)+
    def update(self) -> Callable[[Item], Item]:
        steps: list[Callable[[Item], None]] = []
        seen: set[str] = set()
        while self.peek() is not None:
            clause = self.take().upper()
            if clause not in ("SET", "REMOVE"):
                raise _unsupported(self.exprs.operation, clause)
            if clause in seen:
                raise validation(self.exprs.operation, f"Invalid UpdateExpression: The "
                                 f"\"{clause}\" section can only be used once")  # fmt: skip
            seen.add(clause)
            while True:
                steps.append(self.assignment() if clause == "SET" else self.removal())
                if self.peek() != ",":
                    break
                self.take()

        def apply(item: Item) -> Item:
            out = dict(item)
            for step in steps:
                step(out)
            return out

        return apply

    def removal(self) -> Callable[[Item], None]:
        path = self.path()

        def remove(item: Item) -> None:
            item.pop(path, None)

        return remove

    def assignment(self) -> Callable[[Item], None]:
        path = self.path()
        self.take("=")
        first = self.set_operand()
        sign, second = (
            (self.take(), self.set_operand()) if self.peek() in ("+", "-") else ("", None)
        )
        operation = self.exprs.operation

        def value(item: Item) -> dict[str, Any] | None:
            if second is None:
                return first(item)
            return _arithmetic(operation, first(item), sign, second(item))

        def assign(item: Item) -> None:
            got = value(item)
            if got is None:
                raise validation(self.exprs.operation, "The provided expression refers to an "
                                 "attribute that does not exist in the item")  # fmt: skip
            item[path] = got

        return assign

    def set_operand(self) -> Operand:
        if self.peek() == "if_not_exists":
            self.take()
            self.take("(")
            path = self.path()
            self.take(",")
            fallback = self.operand()
            self.take(")")
            return lambda item: item.get(path, fallback(item))
        return self.operand()


def _unsupported(operation: str, what: str) -> Exception:
    return validation(operation, f"{what} is not supported by bus's in-memory DynamoDB (it "
                      "implements the expressions bus and its stores use)")  # fmt: skip


def _either(a: Condition, b: Condition) -> Condition:
    return lambda item: a(item) or b(item)


def _both(a: Condition, b: Condition) -> Condition:
    return lambda item: a(item) and b(item)


def _scalar(value: dict[str, Any] | None) -> tuple[str, Any] | None:
    if not value:
        return None
    kind, raw = next(iter(value.items()))
    if kind == "N":
        return kind, Decimal(str(raw))
    if kind in ("S", "B", "BOOL", "NULL"):
        return kind, raw
    return kind, repr(raw)


def _compare(left: dict[str, Any] | None, op: str, right: dict[str, Any] | None) -> bool:
    if op == "<>":  # not equal: also across types, and when the attribute is missing
        return not _compare(left, "=", right)
    a, b = _scalar(left), _scalar(right)
    if a is None or b is None or a[0] != b[0]:
        return False
    x, y = a[1], b[1]
    if op == "=":
        return bool(x == y)
    if a[0] not in ("N", "S", "B"):
        return False
    return bool({"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op])


def _begins(value: dict[str, Any] | None, prefix: dict[str, Any] | None) -> bool:
    a, b = _scalar(value), _scalar(prefix)
    return a is not None and b is not None and a[0] == b[0] in ("S", "B") and a[1].startswith(b[1])


def _arithmetic(operation: str, a: dict[str, Any] | None, sign: str,
                b: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    x, y = _scalar(a), _scalar(b)
    if x is None or y is None or x[0] != "N" or y[0] != "N":
        raise validation(operation, "An operand in the update expression has an incorrect data "
                         "type")  # fmt: skip
    total = x[1] + y[1] if sign == "+" else x[1] - y[1]
    return {"N": str(total)}


def condition(text: str, exprs: Expressions) -> Condition:
    parser = _Parser(text, exprs)
    parsed = parser.condition()
    parser.done()
    return parsed


def update(text: str, exprs: Expressions) -> Callable[[Item], Item]:
    parser = _Parser(text, exprs)
    parsed = parser.update()
    parser.done()
    return parsed
