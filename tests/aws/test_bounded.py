from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.envelope.bounded import TooDeep, depth_exceeds, loads


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    with pytest.raises(TooDeep, match="deeper than 64"):
        loads(deep)
    with pytest.raises(TooDeep):
        loads("[" * 5000)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[[[[{{{{" * 100, "b": ['"]]]{', "\\]"]})
    assert loads(text, max_depth=2) == json.loads(text)


def test_exactly_the_limit_parses() -> None:
    assert loads("[" * 3 + "]" * 3, max_depth=3) == [[[]]]
    with pytest.raises(TooDeep):
        loads("[" * 4 + "]" * 4, max_depth=3)


def test_bytes_that_are_not_utf8_are_a_value_error() -> None:
    with pytest.raises(ValueError, match="not UTF-8"):
        loads(b'"\xff"')


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=20,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(json_values, st.integers(0, 6))
def test_depth_check_agrees_with_the_real_depth(value: object, limit: int) -> None:
    text = json.dumps(value)
    assert depth_exceeds(text, limit) == (_depth(value) > limit)


@given(st.text(max_size=200))
def test_any_text_is_a_value_or_a_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        loads(text)
