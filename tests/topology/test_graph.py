"""Graph rendering (pure): golden Mermaid and DOT output, and the README's graph stays true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bus.topology.graph import render, summarise
from bus.topology.load import load_topology
from bus.topology.model import Topology

ROOT = Path(__file__).resolve().parents[2]

SMALL = Topology.model_validate(
    {
        "name": "mini",
        "topics": {"orders": {}},
        "queues": {
            "billing": {"dead_letter": {"max_receive_count": 2}},
            "audit": {"dead_letter": False},
            "undelivered": {"dead_letter": False},
        },
        "subscriptions": [
            {"topic": "orders", "queue": "billing", "filter_policy": {"event_type": ["Placed"]}},
            {
                "topic": "orders",
                "queue": "audit",
                "filter_policy_scope": "MessageBody",
                "filter_policy": {"data": {"country": [{"anything-but": ["DE"]}]}},
                "dead_letter_queue": "undelivered",
            },
        ],
        "buses": {"events": {}},
        "rules": {
            "big": {
                "bus": "events",
                "event_pattern": {"detail": {"total": [{"numeric": [">", 10, "<=", 20]}]}},
                "targets": [
                    {"queue": "audit", "input_path": "$.detail", "dead_letter_queue": "undelivered"}
                ],
            }
        },
    }
)

MERMAID = """\
flowchart LR
  bus_events[["dev-events"]]
  topic_orders{{"dev-orders"}}
  rule_big(["dev-big<br/>detail.total #gt; 10 #lt;= 20"])
  queue_billing["dev-billing"]
  queue_audit["dev-audit"]
  queue_undelivered["dev-undelivered"]
  queue_billing_dlq["dev-billing-dlq"]
  topic_orders -->|"event_type: Placed"| queue_billing
  topic_orders -->|"body data.country: not DE"| queue_audit
  topic_orders -.->|"undeliverable"| queue_undelivered
  bus_events --> rule_big
  rule_big -->|"input $.detail"| queue_audit
  rule_big -.->|"undeliverable"| queue_undelivered
  queue_billing -.->|"after 2 receives"| queue_billing_dlq
"""

DOT = """\
digraph "mini" {
  rankdir=LR;
  node [fontname="Helvetica", fontsize=11];
  edge [fontname="Helvetica", fontsize=9];
  bus_events [label="events", shape=box, peripheries=2];
  topic_orders [label="orders", shape=hexagon];
  rule_big [label="big\\ndetail.total > 10 <= 20", shape=box, style=rounded];
  queue_billing [label="billing", shape=box];
  queue_audit [label="audit", shape=box];
  queue_undelivered [label="undelivered", shape=box];
  queue_billing_dlq [label="billing-dlq", shape=box];
  topic_orders -> queue_billing [label="event_type: Placed"];
  topic_orders -> queue_audit [label="body data.country: not DE"];
  topic_orders -> queue_undelivered [label="undeliverable", style=dashed];
  bus_events -> rule_big;
  rule_big -> queue_audit [label="input $.detail"];
  rule_big -> queue_undelivered [label="undeliverable", style=dashed];
  queue_billing -> queue_billing_dlq [label="after 2 receives", style=dashed];
}
"""


def test_mermaid_golden_with_env() -> None:
    assert render(SMALL, "mermaid", env="dev") == MERMAID


def test_dot_golden() -> None:
    assert render(SMALL, "dot") == DOT


@pytest.mark.parametrize(
    ("pattern", "summary"),
    [
        ({"event_type": ["A", "B"]}, "event_type: A, B"),
        ({"total_cents": [{"numeric": [">=", 100000]}]}, "total_cents >= 100000"),
        ({"source": ["shop"], "detail": {"data": {"id": [{"prefix": "o-"}]}}},
         "source: shop; detail.data.id: prefix o-"),
        ({"country": [{"exists": False}]}, "country: missing"),
        ({"$or": [{"a": ["1"]}, {"b": ["2"]}]}, "(a: 1) or (b: 2)"),
    ],
)  # fmt: skip
def test_pattern_summaries(pattern: dict[str, object], summary: str) -> None:
    assert summarise(pattern) == summary


def test_node_ids_stay_distinct_when_names_sanitise_alike() -> None:
    topology = Topology.model_validate(
        {"name": "t", "queues": {"a-b": {"dead_letter": False}, "a_b": {"dead_letter": False}}}
    )
    assert render(topology) == 'flowchart LR\n  queue_a_b["a-b"]\n  queue_a_b_2["a_b"]\n'


def test_readme_embeds_the_reference_graph() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Topology\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```mermaid\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "README's Topology section has no ```mermaid block"
    assert blocks[0] == render(load_topology(ROOT / "topology.yaml"), "mermaid")
