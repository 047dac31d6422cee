"""``bus.jsontext.loads``: what ``json.loads`` reads, the same values and types, and the same
refusals (pydantic-core's parser where it agrees, the standard library where it does not)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.jsontext import loads

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types, and NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return ValueError


def _parse(text: str) -> Any:
    try:
        return loads(text)
    except ValueError:
        return ValueError


@settings(max_examples=300, deadline=None)
@given(value=json_values, ascii_only=st.booleans(), junk=st.text(max_size=6))
def test_loads_reads_what_json_loads_reads(value: Any, ascii_only: bool, junk: str) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert _same(loads(text), json.loads(text))
    assert _same(loads(text.encode()), json.loads(text))  # an AWS answer's body, as bytes
    for variant in (junk, text + junk, junk + text, text[: len(text) // 2], '"\\ud800"'):
        assert _same(_parse(variant), _loads(variant))


def test_bytes_are_read_as_utf_8_and_refused_as_json_loads_refuses_them() -> None:
    assert loads('{"a": "\u00e9t\u00e9"}'.encode()) == {"a": "été"}
    assert loads(b'{"a": "\\ud800"}') == {"a": "\ud800"}  # a lone surrogate escape: json's reading
    with pytest.raises(UnicodeDecodeError) as refused:
        loads(b'{"a": "\xff"}')
    assert refused.value.start == 7
