"""A tiny, safe expression language over a decoded dead letter (no ``eval``).

::

    type == "OrderPlaced" and data.total_cents > 1000 and failure.reason == "handler-error"
    failure.reason in ["decode-error", "validation-error"] or not (age < 2h)
    failure.error matches "declined" and data.lines[0].sku startswith "SKU-"

The right side of ``matches`` is a string literal (a regular expression), compiled once when the
expression is parsed; a pattern is never taken from a message. Patterns run on RE2 (``google-re2``),
which matches in time linear in the text whatever the pattern: ``(a+)+$`` against a 1 MiB body
returns at once instead of backtracking for ever. RE2 syntax is Python's without backreferences and
lookaround (refused when parsed); ``\\d``, ``\\w`` and ``\\s`` are ASCII.

Limits, refused when parsed with an error at the position: an expression of at most
``MAX_LENGTH`` characters, nested at most ``MAX_DEPTH`` levels deep (each ``(`` and each ``not``
is a level), so parsing and evaluating never recurse deeper than a few hundred frames.

Grammar (keywords are lower case)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := operand [op operand]       op: == != < <= > >= in, not in, contains, matches, startswith
    operand    := literal | path | list | "(" expr ")"
    path       := NAME ("." NAME | "[" INTEGER "]")*
    literal    := STRING | NUMBER | DURATION | true | false | null      DURATION: 90s 15m 2h 7d (seconds)
    list       := "[" [literal ("," literal)*] "]"

A path that does not exist is ``null``. Ordering operators compare numbers with numbers and strings
with strings; any other pair is false, never an error, because one DLQ holds messages of every shape.
Errors name the position in the expression (``FilterError``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bus.dlq.expr_eval import (
    MISSING,
    BoolOp,
    Compare,
    Expression,
    Literal,
    Node,
    Not,
    Path,
    Pattern,
    Resolver,
    compare,
    compile_pattern,
    search,
    truthy,
)
from bus.errors import FilterError

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MISSING",
    "Expression",
    "Path",
    "Pattern",
    "Resolver",
    "Token",
    "compare",
    "compile_pattern",
    "parse",
    "search",
    "tokenize",
    "truthy",
]

MAX_LENGTH = 8192
"""Characters in one expression."""
MAX_DEPTH = 32
"""Nesting levels in one expression: each ``(`` and each ``not`` opens one."""

_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<duration>\d+(?:\.\d+)?[smhd](?![\w.]))
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w]))
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[()\[\],.])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
_WORD_OPS = {"in", "contains", "matches", "startswith"}
_KEYWORDS = {"and", "or", "not", "true", "false", "null", *_WORD_OPS}
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int
    value: Any = None


# -- parsing --------------------------------------------------------------------------------------


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise FilterError(
                f"unexpected character {source[pos]!r}", expression=source, position=pos
            )
        kind = match.lastgroup or ""
        text = match.group()
        if kind != "ws":
            tokens.append(_token(kind, text, pos, source))
        pos = match.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


def _token(kind: str, text: str, pos: int, source: str) -> Token:
    if kind == "duration":
        return Token("literal", text, pos, float(text[:-1]) * _DURATION_UNITS[text[-1]])
    if kind == "number":
        value: float | int = float(text) if any(c in text for c in ".eE") else int(text)
        return Token("literal", text, pos, value)
    if kind == "string":
        return Token("literal", text, pos, _unescape(text, pos, source))
    if kind == "name" and text in ("true", "false", "null"):
        return Token("literal", text, pos, {"true": True, "false": False, "null": None}[text])
    if kind == "name" and text in _KEYWORDS:
        return Token("keyword", text, pos)
    return Token(kind, text, pos)


def _unescape(text: str, pos: int, source: str) -> str:
    out: list[str] = []
    i = 1
    while i < len(text) - 1:
        char = text[i]
        if char == "\\":
            nxt = text[i + 1]
            if nxt not in _ESCAPES:
                raise FilterError(
                    f"unknown escape \\{nxt} in string", expression=source, position=pos + i
                )
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


class _Parser:
    def __init__(self, source: str, check_path: Callable[[Path], str | None]) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.index = 0
        self.check_path = check_path
        self.paths: list[Path] = []
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def error(self, message: str, token: Token | None = None) -> FilterError:
        tok = token or self.token
        return FilterError(message, expression=self.source, position=tok.pos)

    def advance(self) -> Token:
        tok = self.token
        self.index += 1
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        tok = self.token
        return tok.kind == kind and (text is None or tok.text == text)

    def expect(self, kind: str, text: str, what: str) -> Token:
        if not self.at(kind, text):
            raise self.error(f"expected {what}, found {self.describe(self.token)}")
        return self.advance()

    @staticmethod
    def describe(tok: Token) -> str:
        return "the end of the expression" if tok.kind == "end" else repr(tok.text)

    def parse(self) -> Node:
        if self.at("end"):
            raise self.error("empty expression")
        node = self.or_expr()
        if not self.at("end"):
            raise self.error(
                f"expected 'and', 'or' or the end of the expression, found {self.describe(self.token)}"
            )
        return node

    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.at("keyword", "or"):
            self.advance()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.not_expr()]
        while self.at("keyword", "and"):
            self.advance()
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def not_expr(self) -> Node:
        if self.at("keyword", "not"):
            self.enter()
            node = Not(self.not_expr())
            self.depth -= 1
            return node
        return self.comparison()

    def enter(self) -> None:
        """Consume a ``(`` or ``not``: one level deeper, refused beyond ``MAX_DEPTH``."""
        if self.depth == MAX_DEPTH:
            raise self.error(
                f"nested deeper than {MAX_DEPTH} levels (each '(' and each 'not' is one)"
            )
        self.depth += 1
        self.advance()

    def comparison(self) -> Node:
        left = self.operand()
        op_token = self.token
        op = self._operator()
        if op is None:
            return left
        right_token = self.token
        right = self.operand()
        pattern = None
        if op == "matches":
            if not isinstance(right, Literal):
                raise self.error(
                    "'matches' needs a string literal on its right (a regular expression), "
                    "not a value taken from the message",
                    right_token,
                )
            if not isinstance(right.value, str):
                raise self.error("'matches' needs a string (a regular expression)", op_token)
            try:
                pattern = compile_pattern(right.value)
            except ValueError as exc:
                raise self.error(f"invalid regular expression: {exc}", op_token) from exc
        return Compare(op, left, right, pattern)

    def _operator(self) -> str | None:
        tok = self.token
        if tok.kind == "op":
            self.advance()
            return tok.text
        if tok.kind == "keyword" and tok.text in _WORD_OPS:
            self.advance()
            return tok.text
        if tok.kind == "keyword" and tok.text == "not":
            nxt = self.tokens[self.index + 1]
            if nxt.kind == "keyword" and nxt.text == "in":
                self.index += 2
                return "not in"
        return None

    def operand(self) -> Node:
        tok = self.token
        if tok.kind == "literal":
            self.advance()
            return Literal(tok.value)
        if tok.kind == "punct" and tok.text == "(":
            self.enter()
            node = self.or_expr()
            self.expect("punct", ")", "')'")
            self.depth -= 1
            return node
        if tok.kind == "punct" and tok.text == "[":
            return self.list_literal()
        if tok.kind == "name":
            return self.path()
        raise self.error(f"expected a value, a name or '(', found {self.describe(tok)}")

    def list_literal(self) -> Node:
        self.advance()
        items: list[Any] = []
        while not self.at("punct", "]"):
            tok = self.token
            if tok.kind != "literal":
                raise self.error(f"expected a literal in the list, found {self.describe(tok)}")
            items.append(self.advance().value)
            if not self.at("punct", "]"):
                self.expect("punct", ",", "',' or ']'")
        self.advance()
        return Literal(tuple(items))

    def path(self) -> Node:
        start = self.advance()
        parts: list[str | int] = [start.text]
        while True:
            if self.at("punct", "."):
                self.advance()
                tok = self.token
                if tok.kind not in ("name", "keyword"):
                    raise self.error(f"expected a field name after '.', found {self.describe(tok)}")
                parts.append(self.advance().text)
            elif self.at("punct", "["):
                self.advance()
                tok = self.token
                if tok.kind != "literal" or not isinstance(tok.value, int) or tok.value < 0:
                    raise self.error("expected a list index (an integer >= 0)")
                parts.append(self.advance().value)
                self.expect("punct", "]", "']'")
            else:
                break
        path = Path(tuple(parts))
        problem = self.check_path(path)
        if problem:
            raise self.error(problem, start)
        self.paths.append(path)
        return path


def _any_path(path: Path) -> str | None:
    return None


def parse(source: str, check_path: Callable[[Path], str | None] = _any_path) -> Expression:
    """Parse ``source``; ``check_path`` returns a message for a path that cannot exist."""
    if len(source) > MAX_LENGTH:  # the error leaves the expression out: it would fill the screen
        raise FilterError(
            f"the expression is {len(source)} characters long; at most {MAX_LENGTH} are allowed",
            position=MAX_LENGTH,
        )
    parser = _Parser(source, check_path)
    root = parser.parse()
    return Expression(source=source, root=root, paths=tuple(parser.paths))
