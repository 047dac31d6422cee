"""CloudWatch alarms applied to LocalStack: created as declared and tagged, the next plan empty, a
changed override one update, and ``--prune`` deleting only the alarms bus created."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from bus.aws import AwsClients
from bus.topology.apply import converge, make_plan
from bus.topology.model import Topology
from bus.topology.plan import Create, Delete

pytestmark = pytest.mark.aws

DATA: dict[str, Any] = yaml.safe_load(
    """\
name: alarmed
topics:
  ops-alerts: {}
queues:
  billing: {}
  undelivered: {dead_letter: false}
buses:
  shop-events: {}
rules:
  big-orders:
    bus: shop-events
    event_pattern: {source: [shop]}
    targets: [{queue: billing, dead_letter_queue: undelivered}]
alarms:
  actions: [ops-alerts]
  defaults:
    message_age: {threshold: 600}
"""
)


def topology(edit: Any = None) -> Topology:
    data = copy.deepcopy(DATA)
    if edit is not None:
        edit(data)
    return Topology.model_validate(data)


async def describe(aws: AwsClients, prefix: str) -> dict[str, Any]:
    got = await aws.cloudwatch.describe_alarms(AlarmNamePrefix=prefix)
    return {a["AlarmName"]: a for a in got["MetricAlarms"]}


async def tags(aws: AwsClients, arn: str) -> dict[str, str]:
    got = await aws.cloudwatch.list_tags_for_resource(ResourceARN=arn)
    return {t["Key"]: t["Value"] for t in got["Tags"]}


async def test_alarms_are_created_as_declared_and_the_next_plan_is_empty(
    aws: AwsClients, bus_env: str
) -> None:
    applied = await converge(aws, topology(), bus_env)
    created = sorted(c.resource.name for c in applied.changes if c.resource.kind == "alarm")
    assert created == [
        f"{bus_env}-big-orders-failed-invocations",
        f"{bus_env}-billing-dlq-not-empty",
        f"{bus_env}-billing-message-age",
        f"{bus_env}-undelivered-not-empty",
    ]
    assert all(isinstance(c, Create) for c in applied.changes)
    again = await make_plan(aws, topology(), bus_env)
    assert again.is_empty, again.lines()

    alarms = await describe(aws, f"{bus_env}-")
    assert sorted(alarms) == created
    account = await aws.account()
    topic = account.arn("sns", f"{bus_env}-ops-alerts")
    age = alarms[f"{bus_env}-billing-message-age"]
    assert (age["Namespace"], age["MetricName"], age["Statistic"]) == (
        "AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum",
    )  # fmt: skip
    assert age["Dimensions"] == [{"Name": "QueueName", "Value": f"{bus_env}-billing"}]
    assert (age["Threshold"], age["ComparisonOperator"], age["Period"]) == (
        600.0, "GreaterThanThreshold", 60,
    )  # fmt: skip
    assert (age["AlarmActions"], age["OKActions"]) == ([topic], [topic])
    rule = alarms[f"{bus_env}-big-orders-failed-invocations"]
    assert sorted((d["Name"], d["Value"]) for d in rule["Dimensions"]) == [
        ("EventBusName", f"{bus_env}-shop-events"),
        ("RuleName", f"{bus_env}-big-orders"),
    ]
    assert await tags(aws, age["AlarmArn"]) == {
        "bus:topology": "alarmed", "bus:env": bus_env, "bus:managed": "true",
    }  # fmt: skip


async def test_a_changed_override_is_one_update_and_then_nothing(
    aws: AwsClients, bus_env: str
) -> None:
    await converge(aws, topology(), bus_env)

    def edit(data: dict[str, Any]) -> None:
        data["alarms"]["queues"] = {"billing": {"message_age": {"threshold": 120}}}

    changed = topology(edit)
    planned = await make_plan(aws, changed, bus_env)
    assert planned.lines() == [
        f"~ update alarm {bus_env}-billing-message-age: Threshold: 600.0 -> 120.0"
    ]
    await converge(aws, changed, bus_env)
    assert (await make_plan(aws, changed, bus_env)).is_empty
    alarm = (await describe(aws, f"{bus_env}-billing-message-age"))[
        f"{bus_env}-billing-message-age"
    ]
    assert alarm["Threshold"] == 120.0
    assert alarm["AlarmActions"] != []  # the update kept the rest of the alarm
    assert (await tags(aws, alarm["AlarmArn"]))["bus:managed"] == "true"


async def test_prune_deletes_a_removed_alarm_and_leaves_others_alone(
    aws: AwsClients, bus_env: str
) -> None:
    await converge(aws, topology(), bus_env)
    cw = aws.cloudwatch
    foreign = {"Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
               "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 5.0,
               "ComparisonOperator": "GreaterThanThreshold"}  # fmt: skip
    await cw.put_metric_alarm(AlarmName=f"{bus_env}-handmade", **foreign)
    other = f"{bus_env}-other-topology"
    await cw.put_metric_alarm(AlarmName=other, **foreign)
    arn = (await describe(aws, other))[other]["AlarmArn"]
    await cw.tag_resource(ResourceARN=arn, Tags=[
        {"Key": "bus:topology", "Value": "another"}, {"Key": "bus:env", "Value": bus_env},
        {"Key": "bus:managed", "Value": "true"},
    ])  # fmt: skip

    def edit(data: dict[str, Any]) -> None:
        data["alarms"]["queues"] = {"billing": {"message_age": False}}

    fewer = topology(edit)
    assert (await make_plan(aws, fewer, bus_env)).is_empty  # nothing deleted without --prune
    planned = await make_plan(aws, fewer, bus_env, prune=True)
    assert planned.lines() == [f"- delete alarm {bus_env}-billing-message-age"]
    assert isinstance(planned.changes[0], Delete)
    await converge(aws, fewer, bus_env, prune=True)
    left = await describe(aws, f"{bus_env}-")
    assert f"{bus_env}-billing-message-age" not in left
    assert {f"{bus_env}-handmade", other, f"{bus_env}-billing-dlq-not-empty"} <= set(left)
    assert (await make_plan(aws, fewer, bus_env, prune=True)).is_empty
