"""The filter expression language: parsing, evaluation, and errors that name the position."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.dlq import expr, expr_eval
from bus.dlq.expr import MISSING, compare, parse, tokenize
from bus.errors import FilterError

DOC: dict[str, Any] = {
    "type": "OrderPlaced",
    "data": {"total_cents": 125000, "country": "DE", "vip": True, "lines": [{"sku": "SKU-1"}]},
    "failure": {"reason": "handler-error", "error": "card declined for order o-17"},
    "age": 7200.0,
}


def resolve(parts: Any) -> Any:
    value: Any = DOC
    for part in parts:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return MISSING
    return value


def check(source: str) -> bool:
    return parse(source).matches(resolve)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('type == "OrderPlaced"', True),
        ("type == 'OrderPlaced'", True),
        ('type != "OrderPlaced"', False),
        ("data.total_cents > 1000", True),
        ("data.total_cents >= 125000 and data.total_cents <= 125000", True),
        ("data.total_cents < 1000", False),
        (
            'type == "OrderPlaced" and data.total_cents > 1000 and failure.reason == "handler-error"',
            True,
        ),
        ('failure.reason == "decode-error" or data.country == "DE"', True),
        ('not failure.reason == "decode-error"', True),
        ('not (type == "OrderPlaced")', False),
        ('failure.reason in ["decode-error", "handler-error"]', True),
        ('failure.reason not in ["decode-error", "handler-error"]', False),
        ('failure.error contains "declined"', True),
        ('failure.error matches "order o-\\\\d+"', True),
        ('failure.error matches "^declined"', False),
        ('data.lines[0].sku startswith "SKU-"', True),
        ("data.lines[5].sku == null", True),
        ("data.missing == null", True),
        ("data.missing != null", False),
        ("data.missing > 3", False),
        ("data.vip", True),
        ("data.vip == true", True),
        ("data.vip == 1", False),
        ("data.country > 3", False),
        ('data.country < "FR"', True),
        ("age > 1h", True),
        ("age > 3h", False),
        ("age >= 120m and age < 1d", True),
        ("data.total_cents == 125000.0", True),
        ("data.total_cents > -1", True),
        ('"DE" in ["DE", "FR"]', True),
        ("data.lines contains 3", False),
        ('type == "A" or type == "B" or type == "OrderPlaced"', True),
        ('type == "A" or type == "OrderPlaced" and data.country == "FR"', False),
        ('(type == "A" or type == "OrderPlaced") and data.country == "DE"', True),
    ],
)
def test_evaluates(source: str, expected: bool) -> None:
    assert check(source) is expected


@pytest.mark.parametrize(
    ("source", "position", "message"),
    [
        ("type ==", 7, "expected a value"),
        ('type == "x" and', 15, "expected a value"),
        ('type = "x"', 5, "unexpected character '='"),
        ('type == "x" data', 12, "expected 'and', 'or' or the end"),
        ('(type == "x"', 12, "expected ')'"),
        ("", 0, "empty expression"),
        ('type == "unterminated', 8, "unexpected character '\"'"),
        ("data. == 3", 6, "expected a field name after '.'"),
        ("data.lines[x] == 1", 11, "expected a list index"),
        ('failure.error matches "("', 14, "invalid regular expression"),
        ("failure.error matches 3", 14, "'matches' needs a string"),
        ("failure.error matches data.pattern", 22, "'matches' needs a string literal on its right"),
        ("failure.error matches (data.pattern)", 22, "not a value taken from the message"),
        ('type == "x" or body matches failure.error', 28, "'matches' needs a string literal"),
        ("type in [1, data]", 12, "expected a literal in the list"),
        ('"a\\q" == type', 2, "unknown escape"),
        ('body matches "(a)\\\\1"', 5, "invalid regular expression: invalid escape sequence"),
        ('body matches "(?=a)b"', 5, "invalid regular expression: invalid perl operator"),
        ("(" * 33 + "age > 1" + ")" * 33, 32, "nested deeper than 32 levels"),
        ("not " * 33 + "age > 1", 128, "nested deeper than 32 levels"),
        ("(not " * 17 + "age" + ")" * 17, 80, "nested deeper than 32 levels"),
    ],
)
def test_errors_name_the_position(source: str, position: int, message: str) -> None:
    with pytest.raises(FilterError) as info:
        parse(source)
    assert info.value.position == position
    assert message in str(info.value)
    assert f"at position {position + 1}" in str(info.value)
    if source:
        assert str(info.value).endswith("\n  " + source + "\n  " + " " * position + "^")


def test_matches_compiles_its_pattern_once_when_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    expression = parse('failure.error matches "order o-\\\\d+$"')
    monkeypatch.setattr(expr, "re", None)  # evaluating must not compile anything
    monkeypatch.setattr(expr_eval, "re2", None)
    assert all(expression.matches(resolve) for _ in range(3))


def test_check_path_rejects_with_position() -> None:
    def only_type(path: Any) -> str | None:
        return None if path.parts[0] == "type" else f"unknown name {path.parts[0]!r}"

    with pytest.raises(FilterError) as info:
        parse('type == "x" and tpye == "y"', only_type)
    assert info.value.position == 16
    assert "unknown name 'tpye'" in str(info.value)


def test_durations_are_seconds() -> None:
    values = [t.value for t in tokenize("90s 15m 2h 7d 1.5h") if t.kind == "literal"]
    assert values == [90.0, 900.0, 7200.0, 604800.0, 5400.0]


def test_mismatched_types_are_false_not_errors() -> None:
    assert compare("<", "a", 1) is False
    assert compare(">", True, 0) is False
    assert compare("in", 1, 5) is False
    assert compare("matches", 5, "x") is False
    assert compare("==", MISSING, None) is True


@given(st.text(max_size=60))
def test_any_text_parses_or_raises_filter_error(source: str) -> None:
    position: int | None = 0
    try:
        parse(source)
    except FilterError as exc:
        position = exc.position
    assert position is not None
    assert 0 <= position <= len(source)


_values = st.one_of(
    st.integers(-(10**6), 10**6),
    st.text(alphabet="abcXYZ -_", max_size=8),
    st.booleans(),
    st.none(),
)


def literal(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return f'"{value}"' if isinstance(value, str) else str(value)


@given(_values, _values, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
def test_not_of_a_comparison_is_its_negation(left: Any, right: Any, op: str) -> None:
    DOC["x"] = left
    try:
        source = f"x {op} {literal(right)}"
        assert parse(f"not ({source})").matches(resolve) is (not parse(source).matches(resolve))
        assert parse(source).matches(resolve) is compare(op, left, right)
    finally:
        del DOC["x"]


# -- limits: every input parses or is refused with a position, in bounded time ------------------


def test_nesting_up_to_the_limit_parses_and_evaluates() -> None:
    deep = "(" * expr.MAX_DEPTH + "age > 1h" + ")" * expr.MAX_DEPTH
    assert check(deep) is True
    nots = "not " * expr.MAX_DEPTH + "age > 1h"  # an even number of nots
    assert check(nots) is True


@pytest.mark.parametrize(
    "source",
    [
        "(" * 199 + "age > 1" + ")" * 199,  # a RecursionError traceback before the limit
        "not " * 2000 + "age > 1",
        "(" * expr.MAX_LENGTH,
    ],
)
@pytest.mark.timeout(10)
def test_deep_nesting_is_refused_not_a_recursion_error(source: str) -> None:
    with pytest.raises(FilterError, match="nested deeper than 32 levels"):
        parse(source)


@pytest.mark.timeout(10)
def test_a_long_expression_is_refused_in_one_line() -> None:
    source = " or ".join(f'type == "T{i}"' for i in range(100_000))
    with pytest.raises(FilterError) as info:
        parse(source)
    assert info.value.position == expr.MAX_LENGTH
    assert str(info.value) == (
        f"invalid filter at position {expr.MAX_LENGTH + 1}: the expression is {len(source)} "
        f"characters long; at most {expr.MAX_LENGTH} are allowed"
    )


def test_an_expression_of_the_maximum_length_parses() -> None:
    ids = ", ".join(f'"{i:08d}"' for i in range(600))
    source = f"id in [{ids}]"
    source += " " * (expr.MAX_LENGTH - len(source))
    assert len(source) == expr.MAX_LENGTH
    assert check(source) is False


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("(a+)+$", "a" * 100_000 + "!", False),  # exponential with backtracking
        ("(a|aa)+$", "a" * 100_000 + "!", False),
        ("(x+x+)+y", "x" * 250 * 1024, False),
        ("^(\\\\w+\\\\s?)*$", "word " * 50_000 + "!", False),
        ("(a+)+$", "b" * 250 * 1024 + "a", True),
    ],
)
@pytest.mark.timeout(10)
def test_catastrophic_patterns_finish(pattern: str, text: str, expected: bool) -> None:
    DOC["failure"]["error"] = text
    try:
        assert check(f'failure.error matches "{pattern}"') is expected
    finally:
        DOC["failure"]["error"] = "card declined for order o-17"


def test_matches_a_text_with_lone_surrogates() -> None:
    DOC["x"] = "broken \ud800 card declined"
    try:
        assert check('x matches "card dec.ined"') is True
        assert check('x matches "^broken . card"') is True
    finally:
        del DOC["x"]


def test_compare_matches_uses_the_safe_engine() -> None:
    assert compare("matches", "a" * 100_000 + "!", "(a+)+$") is False
    assert compare("matches", "abc", "(") is False
    assert compare("matches", "abc", "b") is True


_pieces = st.sampled_from(
    [
        "(", ")", "not ", " and ", " or ", "type", "data.x", "data.a[0]", "failure.error",
        " == ", " != ", " < ", " >= ", " in ", " not in ", " contains ", " matches ",
        " startswith ", '"x"', "'y'", '"(a+)+$"', '"["', "1", "-2.5e3", "2h", "true", "null",
        "[", "]", ",", ".", "[1, 2]", '"\\\\d+"', '"\\\\q"', " ",
    ]
)  # fmt: skip


@given(st.lists(_pieces, max_size=400))
def test_any_sequence_of_tokens_parses_or_raises_filter_error(pieces: list[str]) -> None:
    source = "".join(pieces)
    position: int | None = None
    try:
        expression = parse(source)
    except FilterError as exc:
        position = exc.position
        assert position is not None
    else:
        assert expression.matches(resolve) in (True, False)
    assert position is None or 0 <= position <= len(source)
