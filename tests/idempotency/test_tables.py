"""Idempotency tables from the topology, without AWS: which tables, their resources, reading a
DescribeTable answer back, planning (a key schema change is refused) and ``bus graph``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bus.aws import Account
from bus.topology.graph import build, mermaid
from bus.topology.idempotency_aws import read_table
from bus.topology.idempotency_tables import declared_tables
from bus.topology.load import load_topology
from bus.topology.model import Topology, ownership_tags
from bus.topology.observe import Scope
from bus.topology.plan import ReplaceRequired, plan
from bus.topology.resolve import desired_resources

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = Account(account_id="123456789012", region="eu-west-1")
DATA: dict[str, Any] = yaml.safe_load(
    """\
name: shop
queues:
  billing: {}
  shipping: {}
  audit: {}
  email: {}
events:
  OrderPlaced: {model: "schemas.orders:OrderPlaced"}
idempotency: {store: dynamodb, table: handled}
handlers:
  billing: {events: {OrderPlaced: "h:f"}, idempotent: true}
  shipping: {events: {OrderPlaced: "h:f"}, idempotency: {store: dynamodb, table: shipped}}
  audit: {events: {OrderPlaced: "h:f"}, idempotency: {store: memory}}
  email: {events: {OrderPlaced: "h:f"}}
"""
)
T = Topology.model_validate(DATA)


def test_declared_tables_and_the_queues_they_guard() -> None:
    assert declared_tables(T) == {"handled": ["billing"], "shipped": ["shipping"]}
    memory = Topology.model_validate({**DATA, "idempotency": {"store": "memory"}})
    assert declared_tables(memory) == {"shipped": ["shipping"]}
    assert declared_tables(load_topology(ROOT / "topology.yaml")) == {}


def test_resources_in_dynamodb_terms() -> None:
    tables = [r for r in desired_resources(T, "dev", ACCOUNT) if r.kind == "table"]
    assert [r.name for r in tables] == ["dev-handled", "dev-shipped"]
    handled = tables[0]
    assert dict(handled.attributes) == {
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": "id (S, HASH)",
        "TimeToLive": "expires_at",
        "SSEType": "KMS",
    }
    assert handled.tags == dict(ownership_tags(T, "dev"))
    assert handled.ref["arn"] == "arn:aws:dynamodb:eu-west-1:123456789012:table/dev-handled"


def _described(name: str, key: str = "id", sse: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TableName": name,
        "TableArn": f"arn:aws:dynamodb:eu-west-1:123456789012:table/{name}",
        "TableStatus": "ACTIVE",
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
    }
    if sse:
        out["SSEDescription"] = {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": "k"}
    return out


def test_what_dynamodb_answers_plans_to_nothing_and_drift_to_updates() -> None:
    scope = Scope("dev", ownership_tags(T, "dev"))
    tags = dict(ownership_tags(T, "dev"))
    desired = [r for r in desired_resources(T, "dev", ACCOUNT) if r.kind == "table"]
    same = [read_table(_described(r.name), "expires_at", tags, scope) for r in desired]
    assert all(r.owned for r in same)
    assert plan(desired, same).is_empty
    drifted = [read_table(_described("dev-handled", sse=False), "", tags, scope), same[1]]
    assert [str(c) for c in plan(desired, drifted).changes] == [
        "~ update table dev-handled: SSEType: (none) -> KMS",
        "~ update table dev-handled: TimeToLive: (none) -> expires_at",
    ]


def test_another_key_schema_is_refused() -> None:
    scope = Scope("dev", ownership_tags(T, "dev"))
    desired = [r for r in desired_resources(T, "dev", ACCOUNT) if r.name == "dev-handled"]
    other = read_table(_described("dev-handled", key="pk"), "expires_at", {}, scope)
    assert not other.owned
    refused = plan(desired, [other]).refused
    assert [(c.attribute, c.old, c.new) for c in refused] == [
        ("KeySchema", "pk (S, HASH)", "id (S, HASH)")
    ]
    assert isinstance(refused[0], ReplaceRequired)
    assert "key schema" in refused[0].reason


def test_graph_draws_tables_with_the_queues_they_guard() -> None:
    text = mermaid(build(T, "dev"))
    assert 'table_handled[("dev-handled<br/>DynamoDB: handled event ids")]' in text
    assert 'queue_billing -.->|"idempotency"| table_handled' in text
    assert 'queue_shipping -.->|"idempotency"| table_shipped' in text
    assert text.count('"idempotency"') == 2  # audit keeps its ids in memory
