"""What the in-memory routing computes once and reuses: compiled policies and patterns, the body
prefilter, attribute values per message, the fast JSON parser and the message ids. Each must give
the verdicts and the bytes the plain evaluation gives, and nothing may leak between
subscriptions, rules, topics or messages."""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bus.memory import MemoryAws, matches_event_pattern, matches_filter_policy
from bus.memory.matching import _MISSING, _flatten, attribute_values, compile_pattern
from bus.memory.operators import compile_value, value_matches
from bus.memory.world import World, _id_stream
from tests.memory.strategies import (
    FIELDS,
    document,
    json_value,
    match_value,
    nested_pattern,
    scalar,
)
from tests.memory.strategies import rule as match_values

from .test_sns import bodies, n, s, subscribed, topic

# -- a plain interpreter of the documented semantics, to hold the compiled closures against --------


def reference(pattern: dict[str, Any], nodes: list[Any]) -> bool:
    """Every key matches: ``$or`` one branch, an object the objects under the key, a list of
    match values one of the scalars under it (arrays flattened; missing: only exists false)."""
    for key, rule in pattern.items():
        if key == "$or":
            if not any(reference(branch, nodes) for branch in rule):
                return False
            continue
        under = [
            item
            for node in nodes
            if (value := node.get(key, _MISSING)) is not _MISSING
            for item in _flatten(value)
        ]
        if isinstance(rule, dict):
            if not reference(rule, [v for v in under if isinstance(v, dict)]):
                return False
            continue
        scalars = [v for v in under if not isinstance(v, dict)]
        if not any(_one(r, scalars) for r in rule):
            return False
    return True


def _one(rule: Any, scalars: list[Any]) -> bool:
    if isinstance(rule, dict) and "exists" in rule:
        return bool(scalars) == bool(rule["exists"])
    if type(rule) is str:
        return any(type(v) is str and v == rule for v in scalars)
    return any(value_matches(rule, v) for v in scalars)


@settings(max_examples=250, deadline=None)
@given(pattern=nested_pattern(eventbridge=True), doc=document())
def test_compiled_patterns_agree_with_the_plain_interpreter(
    pattern: dict[str, Any], doc: dict[str, Any]
) -> None:
    assert compile_pattern(pattern).match((doc,)) is reference(pattern, [doc])
    either = {"$or": [pattern, {"z": [{"exists": True}]}]}
    assert compile_pattern(either).match((doc,)) is reference(either, [doc])


def _deep_document(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``{"n": {"m": {"a": {...}}}}``, each level sometimes an array of objects, a scalar or
    missing."""

    def level(inner: st.SearchStrategy[Any], key: str) -> st.SearchStrategy[Any]:
        keyed = st.builds(lambda v: {key: v}, inner)
        listed = st.lists(st.one_of(keyed, st.just({})), min_size=1, max_size=2)
        return st.one_of(keyed, keyed, keyed, keyed, st.just({}), listed, scalar)

    return level(level(leaf, "a"), "m").map(lambda m: {"n": m})


@settings(max_examples=500, deadline=None)
@given(
    rule=match_values(eventbridge=True),
    other=st.one_of(st.none(), match_values(eventbridge=True)),
    doc=_deep_document(st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, json_value))),
)
@example(rule=["red"], other=None, doc={"n": {"m": {"a": {"b": ["blue", "red"]}}}})
@example(rule=[5], other=None, doc={"n": {"m": [{"a": {"b": 1}}, {"a": {"b": 5}}]}})
def test_chains_of_single_key_objects_agree_with_the_plain_interpreter(
    rule: list[Any], other: list[Any] | None, doc: dict[str, Any]
) -> None:
    """A chain walked in one loop (``{"n": {"m": {"a": {"b": [...]}}}}``), ending in one key of
    match values (read inline) or in more keys, against documents whose levels are objects,
    arrays of them, scalars or missing."""
    leaf = {"b": rule} if other is None else {"b": rule, "c": other}
    pattern = {"n": {"m": {"a": leaf}}}
    assert compile_pattern(pattern).match((doc,)) is reference(pattern, [doc])


SCALARS = st.one_of(
    st.booleans(), st.none(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True), st.sampled_from(["red", "5", "10.0.0.5", ""]),
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(rule=match_value(eventbridge=True), value=SCALARS)
def test_compiled_match_values_agree_with_the_interpreted_ones(rule: Any, value: Any) -> None:
    """Each operator's compiled predicate (a numeric range tests an int or a float without a
    call, say) against ``value_matches``, on every kind of scalar: booleans are not numbers,
    integers too large for a double are compared as doubles."""
    if type(rule) is str or (isinstance(rule, dict) and "exists" in rule):
        return  # plain strings and exists are the leaf's own, not a predicate's
    assert compile_value(rule)(value) is value_matches(rule, value)


# -- the body prefilter ---------------------------------------------------------------------------

ODD = st.sampled_from(['a"b', "x\\y", "é", "tab\there", "red", "re", "</"])


@settings(max_examples=250, deadline=None)
@given(
    pattern=nested_pattern(eventbridge=False),
    doc=document(),
    field=st.sampled_from(FIELDS),
    value=ODD,
    alone=st.booleans(),
    ascii_only=st.booleans(),
    spaced=st.booleans(),
)
def test_the_body_prefilter_never_changes_a_verdict(
    pattern: dict[str, Any], doc: dict[str, Any], field: str, value: str, alone: bool,
    ascii_only: bool, spaced: bool,
) -> None:  # fmt: skip
    """Policies that want strings JSON escapes or may spell escaped (quotes, backslashes, tabs,
    non-ASCII) against bodies that hold them, escaped or not."""
    doc[field] = value
    pattern = {field: [value]} if alone else {**pattern, field: [value, "red"]}
    body = json.dumps(doc, ensure_ascii=ascii_only, separators=(", ", ": ") if spaced else None)
    parsed = matches_filter_policy(pattern, {}, "", "MessageBody", document=json.loads(body))
    assert matches_filter_policy(pattern, {}, body, "MessageBody") is parsed


def test_the_prefilter_rejects_only_bodies_without_a_required_string() -> None:
    policy = compile_pattern({"type": ["OrderShipped", "PaymentFailed"], "n": {"k": ["v"]}})
    assert policy.needles == (('"OrderShipped"', '"PaymentFailed"'), ('"v"',))
    assert not policy.may_match('{"type": "OrderPlaced", "n": {"k": "v"}}')
    assert not policy.may_match('{"type": "PaymentFailed", "n": {"k": "w"}}')
    assert policy.may_match('{"type": "PaymentFailed", "n": {"k": "v"}}')
    assert policy.may_match('{"type": "Order\\u0053hipped", "n": {"k": "v"}}')  # escaped: parse
    # operators other than plain strings, and $or, require nothing
    assert compile_pattern({"a": ["x", {"prefix": "y"}], "$or": [{"b": ["z"]}]}).needles == ()
    assert compile_pattern({"a": ['q"uote']}).needles == ()


# -- attribute values, per message ----------------------------------------------------------------


def test_attribute_values_are_converted_per_message_and_only_when_read() -> None:
    policy = compile_pattern({"kind": ["a"], "$or": [{"size": [{"numeric": [">", 5]}]}]})
    assert set(policy.keys) == {"kind", "size"}
    values: dict[str, Any] = {}
    attributes = {"kind": s("a"), "size": n("6"), "other": s("x")}
    assert policy.match_attributes(attributes, values)
    assert values == {"kind": "a", "size": 6}  # "other" was never read
    assert not policy.match_attributes({"kind": s("a"), "size": n("5")}, {})
    assert attribute_values(attributes) == {"kind": "a", "size": 6, "other": "x"}
    assert matches_filter_policy({"other": ["x"]}, {}, "", values=attribute_values(attributes))


async def test_policies_of_one_topic_share_no_verdicts(memory: MemoryAws) -> None:
    """Two messages in a row, subscriptions reading the same names in attributes and body, a
    policy replaced and a second topic: every queue gets exactly what its own policy says."""
    arn, other = await topic(memory), await topic(memory, "other")
    by_kind = await subscribed(memory, arn, "by-kind", RawMessageDelivery="true",
                               FilterPolicy=json.dumps({"kind": ["a"]}))  # fmt: skip
    by_size = await subscribed(memory, arn, "by-size", RawMessageDelivery="true",
                               FilterPolicy=json.dumps({"size": [{"numeric": [">", 5]}]}))  # fmt: skip
    in_body = await subscribed(memory, arn, "in-body", RawMessageDelivery="true",
                               FilterPolicyScope="MessageBody",
                               FilterPolicy=json.dumps({"kind": ["b"]}))  # fmt: skip
    elsewhere = await subscribed(memory, other, "elsewhere", RawMessageDelivery="true",
                                 FilterPolicy=json.dumps({"kind": ["b"]}))  # fmt: skip
    for body, attributes in [
        ('{"kind": "b"}', {"kind": s("a"), "size": n("3")}),
        ('{"kind": "a"}', {"kind": s("b"), "size": n("9")}),
    ]:
        await memory.sns.publish(TopicArn=arn, Message=body, MessageAttributes=attributes)
        await memory.sns.publish(TopicArn=other, Message=body, MessageAttributes=attributes)
    got = {name: [m["Body"] for m in await bodies(memory, url)]
           for name, url in [("kind", by_kind), ("size", by_size), ("body", in_body),
                             ("elsewhere", elsewhere)]}  # fmt: skip
    assert got == {"kind": ['{"kind": "b"}'], "size": ['{"kind": "a"}'],
                   "body": ['{"kind": "b"}'], "elsewhere": ['{"kind": "a"}']}  # fmt: skip

    (sub,) = [x for x in memory.memory_sns.topics[arn].subscriptions if x.endpoint.endswith("kind")]
    await memory.sns.set_subscription_attributes(
        SubscriptionArn=sub.arn, AttributeName="FilterPolicy", AttributeValue='{"kind": ["b"]}'
    )
    await memory.sns.publish(TopicArn=arn, Message="x", MessageAttributes={"kind": s("a")})
    await memory.sns.publish(TopicArn=arn, Message="y", MessageAttributes={"kind": s("b")})
    assert [m["Body"] for m in await bodies(memory, by_kind)] == ["y"]


async def test_a_replaced_rule_pattern_is_the_one_matched(memory: MemoryAws) -> None:
    url = (await memory.sqs.create_queue(QueueName="q"))["QueueUrl"]
    target = {"Id": "q", "Arn": f"arn:aws:sqs:us-east-1:{memory.world.account_id}:q"}
    for pattern in ({"detail": {"n": [1]}}, {"detail": {"n": [2]}}):
        await memory.events.put_rule(Name="r", EventPattern=json.dumps(pattern))
    await memory.events.put_targets(Rule="r", Targets=[target])
    entries = [{"Source": "s", "DetailType": "t", "Detail": json.dumps({"n": i})} for i in (1, 2)]
    await memory.events.put_events(Entries=entries)
    got = await memory.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    assert [json.loads(m["Body"])["detail"] for m in got["Messages"]] == [{"n": 2}]
    assert matches_event_pattern({"detail": {"n": [2]}}, {"detail": {"n": 2}})


# -- JSON and ids ---------------------------------------------------------------------------------


def test_message_ids_are_unique_version_4_uuids() -> None:
    ids = [World.new_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids[::997]]
    assert all(str(u) == i and u.version == 4 for u, i in zip(parsed, ids[::997], strict=True))


def test_message_ids_keep_48_counter_bits_across_a_block_and_at_the_wrap() -> None:
    ids = _id_stream("p-", 2**48 - 65_537)
    got = [next(ids) for _ in range(65_538)]
    assert got[0] == "p-fffffffeffff"
    assert got[1] == "p-ffffffff0000"
    assert got[65_536] == "p-ffffffffffff"
    assert got[65_537] == "p-000000000000"
    assert len(set(got)) == len(got)
