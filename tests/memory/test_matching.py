"""The matcher against AWS's documented examples.

SNS: "Amazon SNS example filter policies", "Numeric value matching", "String value matching",
"Key matching" (https://docs.aws.amazon.com/sns/latest/dg/). EventBridge: "Content filtering in
Amazon EventBridge event patterns", "Comparison operators for use in event patterns", "Arrays in
EventBridge event patterns" (https://docs.aws.amazon.com/eventbridge/latest/userguide/).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bus.memory import matches_event_pattern, matches_filter_policy


def attrs(**values: tuple[str, Any]) -> dict[str, dict[str, str]]:
    return {k: {"DataType": t, "StringValue": str(v)} for k, (t, v) in values.items()}


# The customer transaction of "Amazon SNS example filter policies", as attributes and as a body.
TRANSACTION = attrs(
    customer_interests=("String.Array", '["soccer", "rugby", "hockey"]'),
    store=("String", "example_corp"),
    event=("String", "order_placed"),
    price_usd=("Number", "210.75"),
)
TRANSACTION_BODY = json.dumps({"customer_interests": ["soccer", "rugby", "hockey"],
                               "store": "example_corp", "event": "order_placed",
                               "price_usd": 210.75})  # fmt: skip
ACCEPTS = {
    "store": ["example_corp"],
    "event": [{"anything-but": "order_cancelled"}],
    "customer_interests": ["rugby", "football", "baseball"],
    "price_usd": [{"numeric": [">=", 100]}],
}
REJECTS = {
    "store": ["example_corp"],
    "event": ["order_cancelled"],
    "encrypted": [False],
    "customer_interests": ["basketball", "baseball"],
}


@pytest.mark.parametrize("scope", ["MessageAttributes", "MessageBody"])
def test_the_documented_transaction_policies(scope: str) -> None:
    def match(policy: dict[str, Any]) -> bool:
        return matches_filter_policy(policy, TRANSACTION, TRANSACTION_BODY, scope)

    assert match(ACCEPTS)
    assert not match(REJECTS)


@pytest.mark.parametrize(
    ("policy", "attribute", "expected"),
    [
        # numeric exact matching: 301.5 and 3.015e2 are the same number
        ({"price_usd": [{"numeric": ["=", 301.5]}]}, ("Number", "3.015e2"), True),
        ({"price_usd": [{"numeric": ["=", 301.5]}]}, ("Number", "301.5"), True),
        # anything-but numbers: 101 and 100.1 match, 100 does not; an array with 50 matches
        ({"price_usd": [{"anything-but": [100, 500]}]}, ("Number", "101"), True),
        ({"price_usd": [{"anything-but": [100, 500]}]}, ("Number", "100.1"), True),
        ({"price_usd": [{"anything-but": [100, 500]}]}, ("Number", "100"), False),
        ({"price_usd": [{"anything-but": [100, 500]}]}, ("String.Array", "[100, 50]"), True),
        # ranges
        ({"price_usd": [{"numeric": [">", 0, "<=", 150]}]}, ("Number", "150"), True),
        ({"price_usd": [{"numeric": [">", 0, "<=", 150]}]}, ("Number", "150.01"), False),
        ({"price_usd": [{"numeric": [">", 0, "<=", 150]}]}, ("Number", "0"), False),
        # numbers match Number attributes only
        ({"price_usd": [{"numeric": [">", 0]}]}, ("String", "5"), False),
    ],
)
def test_sns_numeric_matching(
    policy: dict[str, Any], attribute: tuple[str, str], expected: bool
) -> None:
    assert matches_filter_policy(policy, attrs(price_usd=attribute), "") is expected


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        ([{"anything-but": ["rugby", "tennis"]}], "football", True),
        ([{"anything-but": ["rugby", "tennis"]}], "rugby", False),
        ([{"anything-but": {"prefix": "order-"}}], "data-entry", True),
        ([{"anything-but": {"prefix": "order-"}}], "order-cancelled", False),
        ([{"equals-ignore-case": "order_placed"}], "ORDER_PLACED", True),
        ([{"prefix": "bas"}], "baseball", True),
        ([{"prefix": "bas"}], "rugby", False),
        ([{"suffix": "ball"}], "baseball", True),
        ([{"cidr": "10.0.0.0/24"}], "10.0.0.255", True),
        ([{"cidr": "10.0.0.0/24"}], "10.0.1.1", False),
        (["rugby", {"prefix": "bas"}], "basket", True),
    ],
)
def test_sns_string_matching(rule: list[Any], value: str, expected: bool) -> None:
    policy = {"interest": rule}
    assert matches_filter_policy(policy, attrs(interest=("String", value)), "") is expected
    body = json.dumps({"interest": value})
    assert matches_filter_policy(policy, {}, body, "MessageBody") is expected


def test_sns_key_matching_and_or() -> None:
    present = attrs(store=("String", "x"))
    assert matches_filter_policy({"store": [{"exists": True}]}, present, "")
    assert not matches_filter_policy({"store": [{"exists": False}]}, present, "")
    assert matches_filter_policy({"other": [{"exists": False}]}, present, "")
    assert not matches_filter_policy({"other": [{"anything-but": "y"}]}, present, "")
    either = {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]},
                                                    {"namespace": ["AWS/EC2"]}]}  # fmt: skip
    assert matches_filter_policy(
        either, attrs(source=("String", "aws.cloudwatch"), namespace=("String", "AWS/EC2")), ""
    )
    assert not matches_filter_policy(either, attrs(source=("String", "aws.cloudwatch")), "")


def test_a_body_that_is_not_json_matches_no_body_policy() -> None:
    assert not matches_filter_policy({"a": ["b"]}, {}, "plain text", "MessageBody")
    assert not matches_filter_policy({"a": ["b"]}, {}, '["b"]', "MessageBody")
    assert matches_filter_policy(None, {}, "plain text", "MessageBody")


def test_binary_attributes_are_ignored() -> None:
    binary = {"blob": {"DataType": "Binary", "BinaryValue": b"abc"}}
    assert not matches_filter_policy({"blob": [{"exists": True}]}, binary, "")


EC2 = {
    "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
    "account": "111122223333", "time": "2017-12-22T18:43:48Z", "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated",
               "c-count": 5, "d-count": 3, "x-limit": 301.8, "sourceIPAddress": "10.0.0.123",
               "FileName": "image.PNG", "responseElements": None, "eventVersion": "",
               "FilePath": "/usr/lib/x"},
}  # fmt: skip


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"time": [{"prefix": "2017-12-22"}]}, True),
        ({"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}}, True),
        ({"detail": {"FileName": [{"suffix": ".png"}]}}, False),
        ({"detail": {"state": [{"anything-but": "initializing"}]}}, True),
        ({"detail": {"state": [{"anything-but": ["stopped", "terminated"]}]}}, False),
        ({"detail": {"x-limit": [{"anything-but": 123}]}}, True),
        ({"region": [{"anything-but": {"prefix": "us-"}}]}, False),
        ({"detail": {"FileName": [{"anything-but": {"suffix": ".txt"}}]}}, True),
        ({"detail": {"state": [{"anything-but": {"equals-ignore-case": "TERMINATED"}}]}}, False),
        ({"detail": {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}}, False),
        ({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}],
                     "d-count": [{"numeric": ["<", 10]}],
                     "x-limit": [{"numeric": ["=", 3.018e2]}]}}, True),
        ({"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}, True),
        ({"detail": {"state": [{"exists": True}]}}, True),
        ({"detail": {"missing": [{"exists": False}]}}, True),
        ({"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]},
         True),
        ({"resources": [{"wildcard": "arn:aws:ec2:*:instance/*"}]}, True),
        ({"detail": {"responseElements": [None]}}, True),
        ({"detail": {"eventVersion": [""]}}, True),
        ({"detail": {"$or": [{"c-count": [{"numeric": [">", 10]}]},
                             {"d-count": [{"numeric": ["<", 10]}]}]}}, True),
        ({"resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0",
                        "arn:aws:ec2:us-east-1:123456789012:instance/i-other"]}, True),
        ({"source": ["aws.ec2"], "detail": {"state": ["running"]}}, False),
    ],
)  # fmt: skip
def test_eventbridge_documented_patterns(pattern: dict[str, Any], expected: bool) -> None:
    assert matches_event_pattern(pattern, EC2) is expected


def test_anything_but_a_string_operator_matches_numbers() -> None:
    # found by the differential test against LocalStack (which follows AWS's event-ruler)
    pattern = {"a": [{"anything-but": {"prefix": "blue"}}]}
    assert matches_event_pattern(pattern, {"a": -3})
    assert matches_event_pattern(pattern, {"a": "red"})
    assert not matches_event_pattern(pattern, {"a": "blueish"})
    assert not matches_event_pattern(pattern, {})


def test_arrays_of_objects_are_flattened() -> None:
    event = {"detail": {"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 5}]}}
    assert matches_event_pattern({"detail": {"items": {"sku": ["b"]}}}, event)
    assert matches_event_pattern({"detail": {"items": {"qty": [{"numeric": [">", 4]}]}}}, event)
    assert not matches_event_pattern({"detail": {"items": {"sku": ["c"]}}}, event)
