"""Filter policy and event pattern syntax (examples from the SNS and EventBridge guides)."""

from __future__ import annotations

from typing import Any

import pytest

from bus.topology.patterns import check_event_pattern, check_filter_policy

VALID_PATTERNS: list[dict[str, Any]] = [
    {"source": ["shop"], "detail-type": ["OrderPlaced"]},
    {"detail": {"data": {"total_cents": [{"numeric": [">=", 100_000]}]}}},
    {"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}]}},
    {"detail": {"state": [{"anything-but": "initializing"}]}},
    {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}},
    {"detail": {"x-limit": [{"anything-but": 123}]}},
    {"detail": {"region": [{"anything-but": {"prefix": "us-"}}]}},
    {"detail": {"file": [{"anything-but": {"suffix": ".png"}}]}},
    {"detail": {"state": [{"anything-but": {"equals-ignore-case": ["Stopped", "Idle"]}}]}},
    {"detail": {"path": [{"anything-but": {"wildcard": "*/lib/*"}}]}},
    {"detail": {"service": [{"prefix": {"equals-ignore-case": "eventb"}}]}},
    {"detail": {"service": [{"suffix": {"equals-ignore-case": "tbridge"}}]}},
    {"detail": {"name": [{"equals-ignore-case": "alice"}, "Bob", None, True, 3.5]}},
    {"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}, {"cidr": "2001:db8::/32"}]}},
    {"detail": {"state": [{"exists": False}]}},
    {"detail": {"file": [{"wildcard": "dir/*.png"}]}},
    {
        "detail": {
            "$or": [{"c-count": [{"numeric": [">", 0]}]}, {"d-count": [{"numeric": ["<", 10]}]}]
        }
    },
]

INVALID_PATTERNS: list[tuple[dict[str, Any], tuple[str | int, ...], str]] = [
    ({}, (), "an event pattern must not be empty"),
    ({"source": "shop"}, ("source",), "must be a list of values or a nested object"),
    ({"source": []}, ("source",), "an empty list matches nothing"),
    ({"detail": {}}, ("detail",), "a nested object must not be empty"),
    ({"source": [["a"]]}, ("source", 0), "lists cannot be nested"),
    ({"n": [{"numerical": [">", 1]}]}, ("n", 0, "numerical"), "did you mean numeric?"),
    ({"n": [{"prefix": "a", "suffix": "b"}]}, ("n", 0), "exactly one key, got: prefix, suffix"),
    ({"n": [{"numeric": [">", 1, "<"]}]}, ("n", 0, "numeric"), "numeric takes [operator, number]"),
    ({"n": [{"numeric": ["~", 1]}]}, ("n", 0, "numeric", 0), "unknown numeric operator '~'"),
    ({"n": [{"numeric": [">", "1"]}]}, ("n", 0, "numeric", 1), "needs a number after >"),
    ({"n": [{"numeric": ["<", 5, ">", 1]}]}, ("n", 0, "numeric"), "a numeric range is"),
    (
        {"n": [{"numeric": [">", 5, "<", 1]}]},
        ("n", 0, "numeric"),
        "range is empty: 5 is not below 1",
    ),
    ({"n": [{"numeric": [">", True]}]}, ("n", 0, "numeric", 1), "needs a number"),
    ({"n": [{"exists": "yes"}]}, ("n", 0, "exists"), "exists takes true or false"),
    ({"n": [{"prefix": 5}]}, ("n", 0, "prefix"), "prefix takes a string, got 5"),
    ({"n": [{"prefix": {"ignore-case": "a"}}]}, ("n", 0, "prefix"), "{equals-ignore-case: string}"),
    ({"n": [{"cidr": "10.0.0.0"}]}, ("n", 0, "cidr"), "cidr takes a network like"),
    ({"n": [{"cidr": "10.0.0.300/24"}]}, ("n", 0, "cidr"), "is not a valid IP network"),
    ({"n": [{"anything-but": {"contains": "x"}}]}, ("n", 0, "anything-but"), "got contains"),
    ({"n": [{"anything-but": [None]}]}, ("n", 0, "anything-but", 0), "strings or numbers"),
    ({"n": [{"anything-but": True}]}, ("n", 0, "anything-but"), "got true"),
    ({"n": [{"wildcard": "a**b"}]}, ("n", 0, "wildcard"), "consecutive '*'"),
    ({"$or": [{"a": ["x"]}]}, ("$or",), "at least two alternative objects"),
    ({"$or": [{"a": ["x"]}, "b"]}, ("$or", 1), "non-empty object"),
]


@pytest.mark.parametrize("pattern", VALID_PATTERNS)
def test_valid_event_patterns_pass(pattern: dict[str, Any]) -> None:
    assert check_event_pattern(pattern) == []


@pytest.mark.parametrize(("pattern", "path", "expected"), INVALID_PATTERNS)
def test_invalid_event_patterns_name_the_path(
    pattern: dict[str, Any], path: tuple[str | int, ...], expected: str
) -> None:
    issues = check_event_pattern(pattern)
    assert len(issues) == 1, issues
    assert issues[0].path == path
    assert expected in issues[0].message


VALID_POLICIES: list[tuple[dict[str, Any], str]] = [
    ({"event_type": ["OrderPlaced"]}, "MessageAttributes"),
    ({"price": [{"numeric": [">=", 100, "<", 200]}, {"numeric": ["=", 300]}]}, "MessageAttributes"),
    (
        {"store": [{"exists": True}], "color": [{"prefix": "bl"}, {"suffix": "ue"}]},
        "MessageAttributes",
    ),
    (
        {"color": [{"anything-but": {"prefix": "bl"}}], "ip": [{"cidr": "10.0.0.0/8"}]},
        "MessageAttributes",
    ),
    (
        {"name": [{"equals-ignore-case": "alice"}], "size": [{"anything-but": ["s", "m"]}]},
        "MessageAttributes",
    ),
    ({"$or": [{"a": ["x"]}, {"b": ["y"]}]}, "MessageAttributes"),
    ({"type": ["OrderShipped"], "data": {"country": ["DE", "FR"]}}, "MessageBody"),
]

INVALID_POLICIES: list[tuple[dict[str, Any], str, tuple[str | int, ...], str]] = [
    ({}, "MessageAttributes", (), "must not be empty"),
    (
        {"data": {"country": ["DE"]}},
        "MessageAttributes",
        ("data",),
        "need filter_policy_scope: MessageBody",
    ),
    (
        {"event_type": "OrderPlaced"},
        "MessageAttributes",
        ("event_type",),
        "must be a list of values, got",
    ),
    (
        {"f": [{"wildcard": "a*"}]},
        "MessageBody",
        ("f", 0, "wildcard"),
        "not supported in SNS filter policies",
    ),
    (
        {"f": [{"anything-but": {"suffix": "x"}}]},
        "MessageBody",
        ("f", 0, "anything-but"),
        "one of prefix",
    ),
    (
        {"f": [{"prefix": {"equals-ignore-case": "x"}}]},
        "MessageBody",
        ("f", 0, "prefix"),
        "takes a string",
    ),
    (
        {k: ["v"] for k in "abcdef"},
        "MessageAttributes",
        (),
        "has 6 keys; SNS allows at most 5",
    ),
    (
        {"a": list(range(10)), "b": list(range(4)), "c": list(range(4))},
        "MessageAttributes",
        (),
        "is too complex: 160 value combinations",
    ),
]


@pytest.mark.parametrize(("policy", "scope"), VALID_POLICIES)
def test_valid_filter_policies_pass(policy: dict[str, Any], scope: Any) -> None:
    assert check_filter_policy(policy, scope) == []


@pytest.mark.parametrize(("policy", "scope", "path", "expected"), INVALID_POLICIES)
def test_invalid_filter_policies_name_the_path(
    policy: dict[str, Any], scope: Any, path: tuple[str | int, ...], expected: str
) -> None:
    issues = check_filter_policy(policy, scope)
    assert len(issues) == 1, issues
    assert issues[0].path == path
    assert expected in issues[0].message


def test_nested_body_policy_complexity_counts_depth() -> None:
    # The worked example of "Filter policy constraints in Amazon SNS": 3 x 4 x 2 x 3 = 72 combinations
    policy = {
        "key_a": {"key_b": {"key_c": ["1", "2", "3", "4"]}},
        "key_d": {"key_e": ["1", "2", "3"]},
    }
    assert check_filter_policy(policy, "MessageBody") == []
    too_many = {**policy, "key_f": {"key_g": ["1", "2", "3"]}}  # 72 x 3 x 2 = 432
    (issue,) = check_filter_policy(too_many, "MessageBody")
    assert "432 value combinations" in issue.message
