"""Hypothesis strategies for filter policies, event patterns and the messages they meet: a few
field names and values, so that generated messages often match and often do not."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

FIELDS = ("a", "b", "c")
WORDS = ("red", "Red", "rent", "blue", "10.0.0.5", "10.1.0.5", "")
NUMBERS = (0, 1, 5, 10.5, 100, -3)

words = st.sampled_from(WORDS)
numbers = st.sampled_from(NUMBERS)
nonempty_words = st.sampled_from([w for w in WORDS if w])


def _numeric() -> st.SearchStrategy[dict[str, Any]]:
    single = st.tuples(st.sampled_from(["=", "<", "<=", ">", ">="]), numbers).map(list)
    ranged = st.tuples(st.sampled_from([">", ">="]), st.sampled_from([-5, 0, 1]),
                       st.sampled_from(["<", "<="]), st.sampled_from([5, 10.5, 200])).map(list)  # fmt: skip
    return st.one_of(single, ranged).map(lambda v: {"numeric": v})


def match_value(*, eventbridge: bool) -> st.SearchStrategy[Any]:
    """One match value: a literal or an operator both services document."""
    options: list[st.SearchStrategy[Any]] = [
        words,
        numbers,
        nonempty_words.map(lambda w: {"prefix": w}),
        nonempty_words.map(lambda w: {"suffix": w}),
        nonempty_words.map(lambda w: {"equals-ignore-case": w}),
        words.map(lambda w: {"anything-but": w}),
        st.lists(nonempty_words, min_size=1, max_size=3, unique=True).map(
            lambda ws: {"anything-but": ws}
        ),
        st.lists(numbers, min_size=1, max_size=3, unique=True).map(lambda ns: {"anything-but": ns}),
        nonempty_words.map(lambda w: {"anything-but": {"prefix": w}}),
        _numeric(),
        st.booleans().map(lambda b: {"exists": b}),
        st.sampled_from(["10.0.0.0/24", "10.0.0.0/8"]).map(lambda c: {"cidr": c}),
    ]
    if eventbridge:
        options += [
            st.sampled_from(["re*", "*e*", "*t", "10.*.5"]).map(lambda w: {"wildcard": w}),
            nonempty_words.map(lambda w: {"anything-but": {"suffix": w}}),
        ]
    return st.one_of(options)


def rule(*, eventbridge: bool) -> st.SearchStrategy[list[Any]]:
    return st.lists(match_value(eventbridge=eventbridge), min_size=1, max_size=3)


def flat_pattern(*, eventbridge: bool) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(FIELDS), rule(eventbridge=eventbridge), min_size=1,
                           max_size=3)  # fmt: skip


def nested_pattern(*, eventbridge: bool) -> st.SearchStrategy[dict[str, Any]]:
    """A pattern over ``{"a": .., "n": {"b": .., "c": ..}}``-shaped documents."""
    inner = flat_pattern(eventbridge=eventbridge)
    return st.builds(
        lambda top, nested: {**top, **({"n": nested} if nested else {})},
        st.dictionaries(st.just("a"), rule(eventbridge=eventbridge), max_size=1),
        st.one_of(st.none(), inner),
    ).filter(bool)


scalar = st.one_of(words, numbers)
json_value = st.one_of(scalar, st.lists(scalar, min_size=0, max_size=3))


def document() -> st.SearchStrategy[dict[str, Any]]:
    """A message body / event detail: ``a`` at the top, ``b``/``c`` under ``n`` (sometimes absent)."""
    inner = st.dictionaries(st.sampled_from(FIELDS), json_value, max_size=3)
    return st.builds(
        lambda top, nested: {**top, **({"n": nested} if nested is not None else {})},
        st.dictionaries(st.just("a"), json_value, max_size=1),
        st.one_of(st.none(), inner, st.lists(inner, min_size=1, max_size=2)),
    )


def attribute() -> st.SearchStrategy[dict[str, str]]:
    """One SNS message attribute: a String, a Number or a String.Array."""
    return st.one_of(
        words.filter(bool).map(lambda w: {"DataType": "String", "StringValue": w}),
        numbers.map(lambda n: {"DataType": "Number", "StringValue": str(n)}),
        st.lists(scalar, min_size=1, max_size=3).map(
            lambda vs: {"DataType": "String.Array", "StringValue": _json(vs)}
        ),
    )


def attributes() -> st.SearchStrategy[dict[str, dict[str, str]]]:
    return st.dictionaries(st.sampled_from(FIELDS), attribute(), max_size=3)


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
