"""Idempotency tables applied to DynamoDB (the emulator's ministack): created as declared
(on-demand, key ``id``, TTL on ``expires_at``, encrypted, tagged), the next plan empty, a drifted
table put back, and ``--prune`` deleting only the tables bus created."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from bus.aws import AwsClients
from bus.topology.apply import converge, make_plan
from bus.topology.model import Topology, ownership_tags
from bus.topology.plan import Create, Delete, Update

pytestmark = pytest.mark.aws

DATA: dict[str, Any] = yaml.safe_load(
    """\
name: exactly-once
queues:
  billing: {}
  shipping: {}
events:
  OrderPlaced: {model: "schemas.orders:OrderPlaced"}
idempotency: {store: dynamodb, table: handled, ttl: 7d}
handlers:
  billing:
    events: {OrderPlaced: "handlers.billing:charge"}
    idempotent: true
  shipping:
    events: {OrderPlaced: "handlers.billing:charge"}
    idempotency: {store: dynamodb, table: shipped, in_progress_expiry: 2m}
"""
)


def topology(edit: Any = None) -> Topology:
    data = copy.deepcopy(DATA)
    if edit is not None:
        edit(data)
    return Topology.model_validate(data)


async def test_tables_are_created_as_declared_and_the_next_plan_is_empty(
    aws: AwsClients, bus_env: str
) -> None:
    applied = await converge(aws, topology(), bus_env)
    tables = sorted(c.resource.name for c in applied.changes if c.resource.kind == "table")
    assert tables == [f"{bus_env}-handled", f"{bus_env}-shipped"]
    assert all(isinstance(c, Create) for c in applied.changes)
    again = await make_plan(aws, topology(), bus_env)
    assert again.is_empty, again.lines()

    db = aws.dynamodb
    table = (await db.describe_table(TableName=f"{bus_env}-handled"))["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert table["SSEDescription"]["SSEType"] == "KMS"
    ttl = await db.describe_time_to_live(TableName=f"{bus_env}-handled")
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    got = await db.list_tags_of_resource(ResourceArn=table["TableArn"])
    tags = {t["Key"]: t["Value"] for t in got["Tags"]}
    assert tags == dict(ownership_tags(topology(), bus_env))


async def test_drift_is_put_back(aws: AwsClients, bus_env: str) -> None:
    await converge(aws, topology(), bus_env)
    name = f"{bus_env}-shipped"
    db = aws.dynamodb
    await db.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"}
    )
    arn = (await db.describe_table(TableName=name))["Table"]["TableArn"]
    await db.untag_resource(ResourceArn=arn, TagKeys=["bus:managed"])
    drift = await make_plan(aws, topology(), bus_env)
    assert sorted(str(c) for c in drift.changes) == [
        f"~ update table {name}: TimeToLive: (none) -> expires_at",
        f"~ update table {name}: tag:bus:managed: (none) -> true",
    ]
    assert all(isinstance(c, Update) for c in drift.changes)
    await converge(aws, topology(), bus_env)
    assert (await make_plan(aws, topology(), bus_env)).is_empty


async def test_prune_deletes_only_the_tables_bus_created(aws: AwsClients, bus_env: str) -> None:
    await converge(aws, topology(), bus_env)
    foreign = f"{bus_env}-not-ours"
    await aws.dynamodb.create_table(
        TableName=foreign,
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )

    def drop_shipping(data: dict[str, Any]) -> None:
        del data["handlers"]["shipping"]

    without = topology(drop_shipping)
    assert (await make_plan(aws, without, bus_env)).is_empty  # not pruning: nothing to do
    pruned = await converge(aws, without, bus_env, prune=True)
    assert [str(c) for c in pruned.changes] == [f"- delete table {bus_env}-shipped"]
    assert isinstance(pruned.changes[0], Delete)
    names = (await aws.dynamodb.list_tables())["TableNames"]
    assert f"{bus_env}-shipped" not in names
    assert {f"{bus_env}-handled", foreign} <= set(names)
    assert (await make_plan(aws, without, bus_env, prune=True)).is_empty
