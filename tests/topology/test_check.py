"""check_topology on models built in Python: the rules the malformed files do not already cover."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bus.topology.check import QUEUE_NAME, RULE_NAME, Finding, check_topology
from bus.topology.model import Topology

REFERENCE = Path(__file__).parents[2] / "topology.yaml"


def topology(**sections: Any) -> Topology:
    return Topology.model_validate({"name": "shop", **sections})


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


@pytest.mark.parametrize("env", [None, "dev", "abcdefghij0123456789"])
def test_reference_topology_has_no_findings(env: str | None) -> None:
    assert check_topology(Topology.model_validate(yaml.safe_load(REFERENCE.read_text())), env) == []


def test_name_rules_count_the_fifo_suffix_and_allow_it_only_at_the_end() -> None:
    assert QUEUE_NAME.problems("a" * 75 + ".fifo") == []
    assert QUEUE_NAME.problems("a" * 76 + ".fifo") == ["is 81 characters long; the limit is 80"]
    assert QUEUE_NAME.problems("a.fifo.b") != []
    assert RULE_NAME.problems("r" * 64) == []
    assert RULE_NAME.problems("r" * 65) == ["is 65 characters long; the limit is 64"]


def test_bus_names_cannot_contain_slash_or_start_with_aws() -> None:
    findings = check_topology(topology(buses={"a/b": {}, "aws.events": {}}))
    assert [(f.path, f.message.split(";")[0]) for f in findings] == [
        (("buses", "a/b"), "EventBridge bus name 'a/b' contains '/'"),
        (("buses", "aws.events"), "EventBridge bus names cannot start with 'aws.'"),
    ]


def test_env_prefix_is_checked_on_physical_names() -> None:
    rule = {"event_pattern": {"source": ["x"]}, "targets": [{"queue": "q"}]}
    t = topology(rules={"r" * 61: rule}, queues={"q": {}})
    assert check_topology(t) == []
    finding = only(check_topology(t, "dev"))
    assert finding.path == ("rules", "r" * 61)
    assert finding.message.endswith("(with env 'dev') is 65 characters long; the limit is 64")


def test_fifo_only_attributes_on_standard_resources() -> None:
    t = topology(
        topics={"orders": {"content_based_deduplication": True}},
        queues={
            "billing": {"fifo_throughput_limit": "perQueue", "content_based_deduplication": True}
        },
    )
    assert sorted(f.path[-1] for f in check_topology(t)) == [
        "content_based_deduplication",
        "content_based_deduplication",
        "fifo_throughput_limit",
    ]


def test_standard_topic_cannot_feed_fifo_queue_nor_use_a_fifo_sns_dlq() -> None:
    t = topology(
        topics={"orders": {}},
        queues={
            "a.fifo": {"fifo": True},
            "b": {},
            "undelivered.fifo": {"fifo": True, "dead_letter": False},
        },
        subscriptions=[
            {"topic": "orders", "queue": "a.fifo"},
            {"topic": "orders", "queue": "b", "dead_letter_queue": "undelivered.fifo"},
        ],
    )
    assert [(f.path, f.message.split(";")[0]) for f in check_topology(t)] == [
        (
            ("subscriptions", 0, "queue"),
            "standard topic 'orders' can only deliver to standard queues",
        ),
        (
            ("subscriptions", 1, "dead_letter_queue"),
            "standard topic 'orders' can only deliver to standard queues",
        ),
    ]


def test_standard_target_must_not_have_message_group_id() -> None:
    t = topology(
        queues={"fraud": {}},
        rules={
            "r": {
                "event_pattern": {"source": ["x"]},
                "targets": [{"queue": "fraud", "message_group_id": "g"}],
            }
        },
    )
    finding = only(check_topology(t))
    assert finding.path == ("rules", "r", "targets", 0, "message_group_id")


def test_fifo_target_with_message_group_id_is_fine() -> None:
    t = topology(
        queues={"ledger.fifo": {"fifo": True}},
        rules={
            "r": {
                "event_pattern": {"source": ["x"]},
                "targets": [{"queue": "ledger.fifo", "message_group_id": "g"}],
            }
        },
    )
    assert check_topology(t) == []


def test_default_bus_needs_no_declaration_for_rules_and_events() -> None:
    t = topology(
        queues={"q": {}},
        rules={
            "r": {"bus": "default", "event_pattern": {"source": ["x"]}, "targets": [{"queue": "q"}]}
        },
        events={"E": {"model": "m.o:E", "publish_to": [{"bus": "default"}]}},
    )
    assert check_topology(t) == []


def test_event_destinations_must_be_declared() -> None:
    t = topology(
        events={
            "E": {"model": "m.o:E", "publish_to": [{"topic": "t"}, {"queue": "q"}, {"bus": "b"}]}
        }
    )
    assert [f.path for f in check_topology(t)] == [
        ("events", "E", "publish_to", 0, "topic"),
        ("events", "E", "publish_to", 1, "queue"),
        ("events", "E", "publish_to", 2, "bus"),
    ]


def test_events_publishing_to_a_fifo_queue_need_a_group_field_that_is_an_identifier() -> None:
    t = topology(
        queues={"ledger.fifo": {"fifo": True}},
        events={
            "A": {"model": "m.o:A", "publish_to": [{"queue": "ledger.fifo"}]},
            "B": {
                "model": "m.o:B",
                "publish_to": [{"queue": "ledger.fifo"}],
                "message_group_id": "account id",
            },
        },
    )
    assert [f.path for f in check_topology(t)] == [
        ("events", "A", "publish_to", 0),
        ("events", "B", "message_group_id"),
    ]


def test_attributes_are_distinct_identifiers_and_previous_versions_are_older() -> None:
    t = topology(
        events={
            "E": {
                "model": "m.o:E",
                "version": 2,
                "attributes": ["country", "country", "2fast", "event_version"],
                "previous_versions": {2: {"model": "m.o:E2", "upcast": "m.o:up"}},
            }
        }
    )
    assert [(f.path[-1], f.message.split(" ")[-1]) for f in check_topology(t)] == [
        (1, "twice"),
        (2, "digit)"),
        (3, "message"),
        (2, "2"),
    ]


def test_a_declared_dlq_named_like_the_derived_one_is_fine_when_referenced() -> None:
    t = topology(queues={"billing": {"dead_letter": {"queue": "billing-dlq"}}, "billing-dlq": {}})
    assert check_topology(t) == []


def test_dlq_chains_through_explicit_dead_letter_settings() -> None:
    t = topology(
        queues={
            "a": {"dead_letter": {"queue": "b"}},
            "b": {"dead_letter": {"max_receive_count": 2}},
        }
    )
    finding = only(check_topology(t))
    assert finding.path == ("queues", "b", "dead_letter")


def test_handlers_may_consume_derived_dead_letter_queues() -> None:
    t = topology(
        queues={"billing": {}},
        events={"E": {"model": "m.o:E"}},
        handlers={"billing-dlq": {"events": {"E": "h.x:f"}}},
    )
    assert check_topology(t) == []


def test_tag_limits() -> None:
    many = {f"k{i}": "v" for i in range(48)}
    t = topology(
        queues={
            "a": {"tags": many},
            "b": {"tags": {"k" * 129: "v", "bus:env": "x", "AWS:x": "y", "ok": "v" * 257}},
        }
    )
    messages = [(f.path, f.message) for f in check_topology(t)]
    assert [p for p, _ in messages] == [
        ("queues", "a", "tags"),
        ("queues", "b", "tags", "k" * 129),
        ("queues", "b", "tags", "bus:env"),
        ("queues", "b", "tags", "AWS:x"),
        ("queues", "b", "tags", "ok"),
    ]
    assert "48 tags plus bus's 3 ownership tags exceed" in messages[0][1]


def test_findings_on_patterns_carry_the_full_path() -> None:
    t = topology(
        topics={"orders": {}},
        queues={"billing": {}},
        subscriptions=[
            {"topic": "orders", "queue": "billing", "filter_policy": {"country": [{"prefx": "D"}]}}
        ],
    )
    finding = only(check_topology(t))
    assert finding.path == ("subscriptions", 0, "filter_policy", "country", 0, "prefx")
    assert "did you mean prefix?" in finding.message


def test_target_json_paths_must_start_with_dollar() -> None:
    def target(**fields: Any) -> Topology:
        rule = {"event_pattern": {"source": ["x"]}, "targets": [{"queue": "q", **fields}]}
        return topology(queues={"q": {}}, rules={"r": rule})

    for good in ("$", "$.detail", "$.detail.data.order_id", "$['detail-type']", "$.detail[0]"):
        assert check_topology(target(input_path=good)) == [], good
    for bad in ("detail", "$ .detail", "$detail", ".detail", ""):
        finding = only(check_topology(target(input_path=bad)))
        assert finding.path == ("rules", "r", "targets", 0, "input_path")
        assert finding.message == (
            f"must be a JSONPath starting with '$' (like $.detail), got {bad!r}"
        )
    transformer = {"input_paths_map": {"ok": "$.id", "bad": "id"}, "input_template": "<ok>"}
    finding = only(check_topology(target(input_transformer=transformer)))
    assert finding.path == (
        "rules",
        "r",
        "targets",
        0,
        "input_transformer",
        "input_paths_map",
        "bad",
    )


def test_a_default_target_id_over_64_characters_needs_an_explicit_id() -> None:
    def rule_to(queue: str, **fields: Any) -> Topology:
        rule = {"event_pattern": {"source": ["x"]}, "targets": [{"queue": queue, **fields}]}
        return topology(queues={queue: {}}, rules={"r": rule})

    assert check_topology(rule_to("q" * 64)) == []
    finding = only(check_topology(rule_to("q" * 65)))
    assert finding.path == ("rules", "r", "targets", 0)
    assert "65 characters long; EventBridge target ids have at most 64: set id" in finding.message
    assert check_topology(rule_to("q" * 65, id="review")) == []
    fifo = "q" * 64 + ".fifo"  # the default id leaves out the .fifo suffix: 64 characters
    rule = {
        "event_pattern": {"source": ["x"]},
        "targets": [{"queue": fifo, "message_group_id": "g"}],
    }
    assert check_topology(topology(queues={fifo: {"fifo": True}}, rules={"r": rule})) == []


def test_filter_policy_scope_needs_a_filter_policy() -> None:
    def subscribed(**fields: Any) -> Topology:
        sub = {"topic": "t", "queue": "q", **fields}
        return topology(topics={"t": {}}, queues={"q": {}}, subscriptions=[sub])

    assert check_topology(subscribed()) == []
    assert check_topology(subscribed(filter_policy={"a": ["b"]})) == []
    for scope in ("MessageBody", "MessageAttributes"):  # even the default: it does nothing
        finding = only(check_topology(subscribed(filter_policy_scope=scope)))
        assert finding.path == ("subscriptions", 0, "filter_policy_scope")
