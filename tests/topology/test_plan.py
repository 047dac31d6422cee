"""The planner (pure): canonical comparison, one update per attribute, refusals, prune, order.

The property test applies a plan to the observed state with a pure in-memory "apply" (plain data,
no AWS and no mocks) and checks that planning again finds nothing to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from bus.aws import Account
from bus.topology.apply import subscription_update_order
from bus.topology.model import Topology
from bus.topology.plan import (
    Create,
    Delete,
    Plan,
    ReplaceRequired,
    Update,
    normalise,
    plan,
)
from bus.topology.resolve import KINDS, Kind, Resource, desired_resources

OWN = {"bus:topology": "shop", "bus:env": "dev", "bus:managed": "true"}


def queue(name: str, tags: dict[str, str] | None = None, **attributes: str) -> Resource:
    return Resource("queue", name, attributes, dict(OWN if tags is None else tags))


def test_identical_state_plans_nothing() -> None:
    q = queue("dev-a", VisibilityTimeout="30", Policy='{"b": 1, "a": [1, 2]}')
    result = plan([q], [q])
    assert result.is_empty
    assert result.unchanged == 1
    assert result.summary() == "No changes. 1 unchanged."


def test_missing_resource_is_created() -> None:
    result = plan([queue("dev-a")], [])
    assert result.changes == (Create(queue("dev-a")),)
    assert str(result.changes[0]) == "+ create queue dev-a"
    assert result.summary() == "Plan: 1 to create, 0 to update, 0 to delete, 0 unchanged."


def test_one_update_per_changed_attribute_and_tag() -> None:
    want = queue("dev-a", {**OWN, "team": "x"}, VisibilityTimeout="45", DelaySeconds="0")
    have = queue("dev-a", {**OWN, "old": "1"}, VisibilityTimeout="30", DelaySeconds="0")
    result = plan([want], [have])
    assert [str(c) for c in result.changes] == [
        "~ update queue dev-a: VisibilityTimeout: 30 -> 45",
        "~ update queue dev-a: tag:old: 1 -> (none)",
        "~ update queue dev-a: tag:team: (none) -> x",
    ]
    assert all(isinstance(c, Update) for c in result.changes)
    assert result.unchanged == 0


def test_json_attributes_compare_canonically() -> None:
    want = queue("dev-a", Policy='{"Version":"2012-10-17","Statement":[{"Sid":"s"}]}')
    have = queue("dev-a", Policy='{ "Statement": [ {"Sid": "s"} ],\n "Version": "2012-10-17" }')
    assert plan([want], [have]).is_empty


def test_absent_attributes_compare_equal_to_aws_defaults() -> None:
    sub = Resource("subscription", "t -> q", {"RawMessageDelivery": "false", "FilterPolicy": ""})
    seen = Resource("subscription", "t -> q", {"FilterPolicy": "{}"})  # SNS's "no filter"
    assert plan([sub], [seen]).is_empty
    assert normalise("subscription", "FilterPolicyScope", None) == "MessageAttributes"
    assert normalise("queue", "FifoQueue", "") == "false"
    assert normalise("queue", "Policy", None) == ""


def test_aws_owned_tags_are_ignored() -> None:
    want = queue("dev-a")
    have = queue("dev-a", {**OWN, "aws:cloudformation:stack-name": "s"})
    assert plan([want], [have]).is_empty


def test_fifo_change_is_refused_with_an_explanation() -> None:
    want = queue("dev-a", FifoQueue="true", VisibilityTimeout="30")
    have = queue("dev-a", VisibilityTimeout="30")
    result = plan([want], [have])
    (change,) = result.changes
    assert isinstance(change, ReplaceRequired)
    assert str(change) == (
        "! replace-required queue dev-a: FifoQueue: false -> true (cannot change in place)"
    )
    assert result.refused == (change,)
    assert "nothing was changed" in result.explain_refusal()
    assert "--prune" in result.explain_refusal()
    assert result.summary().endswith("1 replace-required (refused).")
    topic = Resource("topic", "dev-t", {"FifoTopic": "true"}, OWN)
    assert plan([topic], [replace(topic, attributes={})]).refused


def test_leftovers_are_deleted_only_when_pruning_and_owned() -> None:
    ours = queue("dev-gone")
    theirs = queue("dev-stray", tags={})
    theirs = replace(theirs, owned=False)
    assert plan([], [ours, theirs]).is_empty
    result = plan([], [ours, theirs], prune=True)
    assert result.changes == (Delete(ours),)
    assert str(result.changes[0]) == "- delete queue dev-gone"


def test_changes_come_in_dependency_order() -> None:
    dlq = queue("dev-z-dlq", RedriveAllowPolicy='{"redrivePermission":"allowAll"}')
    source = queue("dev-a", RedrivePolicy='{"deadLetterTargetArn":"x","maxReceiveCount":3}')
    bus = Resource("bus", "dev-b", {}, OWN)
    sub = Resource("subscription", "dev-t -> dev-a", {})
    target = Resource("target", "dev-b/dev-r/a", {})
    rule = Resource("rule", "dev-b/dev-r", {}, OWN)
    created = plan([target, rule, sub, source, dlq, bus], [])
    assert [c.resource.name for c in created.changes] == [
        "dev-b", "dev-z-dlq", "dev-a", "dev-t -> dev-a", "dev-b/dev-r", "dev-b/dev-r/a"
    ]  # fmt: skip
    deleted = plan([], [bus, dlq, source, sub, rule, target], prune=True)
    assert [c.resource.name for c in deleted.changes] == [
        "dev-b/dev-r/a", "dev-b/dev-r", "dev-t -> dev-a", "dev-a", "dev-z-dlq", "dev-b"
    ]  # fmt: skip


# -- property: planning again after applying the plan finds nothing to do ------------------------

ATTRIBUTES = ["VisibilityTimeout", "FifoQueue", "FifoTopic", "Policy", "FilterPolicy",
              "FilterPolicyScope", "RawMessageDelivery", "RetryPolicy", "DisplayName",
              "RedriveAllowPolicy", "DeduplicationScope"]  # fmt: skip
VALUES = ["", "30", "true", "false", "x", "MessageAttributes", "{}", '{"a": 1, "b": [1, 2]}',
          '{"b":[1,2],"a":1}', '{"MaximumEventAgeInSeconds":86400,"MaximumRetryAttempts":185}',
          '{"redrivePermission": "allowAll"}', "queue"]  # fmt: skip
TAGGED: set[Kind] = {"bus", "topic", "queue", "rule"}

attributes = st.dictionaries(st.sampled_from(ATTRIBUTES), st.sampled_from(VALUES), max_size=4)
tags = st.dictionaries(st.sampled_from(["a", "b", "aws:x"]), st.sampled_from(["", "1", "2"]))


@st.composite
def resources(draw: st.DrawFn) -> Resource:
    kind: Kind = draw(st.sampled_from(KINDS))
    return Resource(
        kind=kind,
        name=draw(st.sampled_from(["a", "b", "c"])),
        attributes=draw(attributes),
        tags=draw(tags) if kind in TAGGED else None,
        owned=draw(st.booleans()),
    )


def unique(items: Iterable[Resource]) -> list[Resource]:
    return list({r.key: r for r in items}.values())


def applied(observed: Iterable[Resource], changes: Plan) -> list[Resource]:
    """What AWS would hold after ``changes``: a pure fake of ``apply`` on plain data."""
    state = {r.key: r for r in observed}
    for change in changes.changes:
        if isinstance(change, Create):
            state[change.key] = change.resource
        elif isinstance(change, Delete):
            del state[change.key]
        elif isinstance(change, Update):
            state[change.key] = _updated(state[change.key], change)
    return list(state.values())


def _updated(current: Resource, change: Update) -> Resource:
    if change.is_tag:
        key = change.attribute.removeprefix("tag:")
        wanted = change.resource.tags or {}
        kept = {k: v for k, v in (current.tags or {}).items() if k != key}
        return replace(current, tags=kept | ({key: wanted[key]} if key in wanted else {}))
    return replace(current, attributes={**current.attributes, change.attribute: change.new})


@settings(max_examples=300, deadline=None)
@given(
    desired=st.lists(resources(), max_size=8).map(unique),
    observed=st.lists(resources(), max_size=8).map(unique),
    prune=st.booleans(),
)
def test_plan_after_applying_the_plan_is_empty(
    desired: list[Resource], observed: list[Resource], prune: bool
) -> None:
    first = plan(desired, observed, prune=prune)
    if first.refused:
        return  # apply refuses the whole plan: nothing is applied
    again = plan(desired, applied(observed, first), prune=prune)
    assert again.is_empty, str(again)
    assert again.unchanged == len(desired)


@settings(max_examples=200, deadline=None)
@given(desired=st.lists(resources(), max_size=8).map(unique), prune=st.booleans())
def test_plan_against_itself_is_empty(desired: list[Resource], prune: bool) -> None:
    assert plan(desired, desired, prune=prune).is_empty


@settings(max_examples=200, deadline=None)
@given(
    desired=st.lists(resources(), max_size=8).map(unique),
    observed=st.lists(resources(), max_size=8).map(unique),
    prune=st.booleans(),
)
def test_only_owned_undeclared_resources_are_deleted(
    desired: list[Resource], observed: list[Resource], prune: bool
) -> None:
    deleted = [
        c.resource for c in plan(desired, observed, prune=prune).changes if isinstance(c, Delete)
    ]
    wanted = {r.key for r in desired}
    expected = [r for r in observed if prune and r.owned and r.key not in wanted]
    assert sorted(r.key for r in deleted) == sorted(r.key for r in expected)


def test_kinds_are_all_known() -> None:
    assert set(KINDS) == set(get_args(Kind))


# -- settings removed from the YAML are reverted to AWS's defaults --------------------------------

ACCOUNT = Account(account_id="123456789012", region="eu-west-1")


def test_settings_removed_from_the_topology_are_reverted() -> None:
    # What an earlier apply left: `old` was billing's DLQ (a byQueue allow-list naming billing)
    # and ledger.fifo ran in high-throughput mode. Neither is declared any more.
    topology = Topology.model_validate(
        {
            "name": "shop",
            "queues": {
                "old": {"dead_letter": False},
                "ledger.fifo": {"fifo": True, "dead_letter": False},
            },
        }
    )
    desired = desired_resources(topology, None, ACCOUNT)
    allow_list = '{"redrivePermission": "byQueue", "sourceQueueArns": ["arn:aws:sqs:x:1:billing"]}'
    stale = {
        "old": {"RedriveAllowPolicy": allow_list},
        "ledger.fifo": {
            "DeduplicationScope": "messageGroup",
            "FifoThroughputLimit": "perMessageGroupId",
        },
    }
    observed = [
        replace(r, attributes={**r.attributes, **stale[r.name]}, ref={"url": r.name})
        for r in desired
    ]
    result = plan(desired, observed)
    assert [str(c) for c in result.changes] == [
        "~ update queue ledger.fifo: DeduplicationScope: messageGroup -> queue",
        "~ update queue ledger.fifo: FifoThroughputLimit: perMessageGroupId -> perQueue",
        '~ update queue old: RedriveAllowPolicy: {"redrivePermission":"byQueue","sourceQueueArns":'
        '["arn:aws:sqs:x:1:billing"]} -> {"redrivePermission":"allowAll"}',
    ]
    # AWS leaving the defaults out (a queue that never had them) is no change
    bare = [replace(r, attributes=_without_defaults(r.attributes)) for r in desired]
    assert plan(desired, bare).is_empty


def _without_defaults(attributes: Mapping[str, str]) -> dict[str, str]:
    defaults = {"RedriveAllowPolicy", "DeduplicationScope", "FifoThroughputLimit"}
    return {k: v for k, v in attributes.items() if k not in defaults}


def test_subscription_scope_goes_first_when_it_becomes_message_body() -> None:
    sub = Resource("subscription", "t -> q", {}, ref={"arn": "arn:sub"})

    def updates(scope: str) -> list[Update]:
        nested = '{"data":{"type":["X"]}}' if scope == "MessageBody" else '{"type":["X"]}'
        want = replace(sub, attributes={"FilterPolicy": nested, "FilterPolicyScope": scope,
                                        "RawMessageDelivery": "true"})  # fmt: skip
        changes = plan([want], [replace(sub, attributes={"FilterPolicyScope": _other(scope)})])
        return [c for c in changes.changes if isinstance(c, Update)]

    to_body = subscription_update_order(updates("MessageBody"))
    assert [u.attribute for u in to_body] == [
        "FilterPolicyScope", "FilterPolicy", "RawMessageDelivery"
    ]  # fmt: skip
    to_attributes = subscription_update_order(updates("MessageAttributes"))
    assert [u.attribute for u in to_attributes] == [
        "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery"
    ]  # fmt: skip


def _other(scope: str) -> str:
    return "MessageAttributes" if scope == "MessageBody" else "MessageBody"


def test_deleting_a_queue_says_how_many_messages_it_holds() -> None:
    full = replace(queue("dev-old"), ref={"url": "u", "messages": "12"})
    one = replace(queue("dev-one"), ref={"url": "u", "messages": "1"})
    unknown = queue("dev-unknown")  # observed without the counts
    result = plan([], [full, one, unknown], prune=True)
    assert sorted(str(c) for c in result.changes) == [
        "- delete queue dev-old (~12 messages)",
        "- delete queue dev-one (~1 message)",
        "- delete queue dev-unknown",
    ]
