"""Desired state (pure): names and ARNs, SQS attributes in AWS's form, access policies, tags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bus.aws import Account
from bus.topology.apply import create_attributes, target_entry
from bus.topology.load import load_topology
from bus.topology.model import Topology
from bus.topology.resolve import Names, Resource, desired_resources

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = Account(account_id="123456789012", region="eu-west-1")


@pytest.fixture(scope="module")
def reference() -> Topology:
    return load_topology(ROOT / "topology.yaml")


@pytest.fixture(scope="module")
def desired(reference: Topology) -> dict[tuple[str, str], Resource]:
    return {r.key: r for r in desired_resources(reference, "dev", ACCOUNT)}


def arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:eu-west-1:123456789012:{resource}"


def test_names_and_arns_follow_env_prefix(reference: Topology) -> None:
    names = Names(reference, "dev", ACCOUNT)
    assert names.queue("billing") == "dev-billing"
    assert names.queue_arn("ledger.fifo") == arn("sqs", "dev-ledger.fifo")
    assert names.topic_arn("orders") == arn("sns", "dev-orders")
    assert names.bus("shop-events") == "dev-shop-events"
    assert names.bus("default") == "default"
    assert names.bus_arn("shop-events") == arn("events", "event-bus/dev-shop-events")
    assert names.rule_arn("high-value-orders") == arn(
        "events", "rule/dev-shop-events/dev-high-value-orders"
    )
    assert Names(reference, None, ACCOUNT).queue("billing") == "billing"


def test_rule_on_default_bus_has_short_arn() -> None:
    topology = Topology.model_validate(
        {
            "name": "t",
            "queues": {"q": {}},
            "rules": {"r": {"event_pattern": {"source": ["x"]}, "targets": [{"queue": "q"}]}},
        }
    )
    assert Names(topology, "dev", ACCOUNT).rule_arn("r") == arn("events", "rule/dev-r")
    rule = next(r for r in desired_resources(topology, "dev", ACCOUNT) if r.kind == "rule")
    assert rule.ref["bus"] == "default"
    assert rule.name == "default/dev-r"


def test_every_declared_and_derived_resource_is_desired(
    desired: dict[tuple[str, str], Resource],
) -> None:
    queues = sorted(name for kind, name in desired if kind == "queue")
    assert queues == sorted(
        f"dev-{q}"
        for q in [
            "billing", "billing-dlq", "shipping", "shipping-dlq", "notifications",
            "notifications-dlq", "fraud-review", "fraud-review-dlq", "events-undelivered",
            "ledger.fifo", "ledger-dlq.fifo",
        ]
    )  # fmt: skip
    assert ("subscription", "dev-orders -> dev-billing") in desired
    assert ("rule", "dev-shop-events/dev-high-value-orders") in desired
    assert ("target", "dev-shop-events/dev-high-value-orders/fraud-review") in desired
    assert ("bus", "dev-shop-events") in desired


def test_queue_attributes_in_aws_form(desired: dict[tuple[str, str], Resource]) -> None:
    billing = desired["queue", "dev-billing"].attributes
    assert billing["VisibilityTimeout"] == "30"
    assert billing["ReceiveMessageWaitTimeSeconds"] == "20"
    assert billing["SqsManagedSseEnabled"] == "true"  # encrypted at rest by default
    assert billing["FifoQueue"] == "false"
    assert json.loads(billing["RedrivePolicy"]) == {
        "deadLetterTargetArn": arn("sqs", "dev-billing-dlq"),
        "maxReceiveCount": 3,
    }
    dlq = desired["queue", "dev-billing-dlq"].attributes
    assert dlq["MessageRetentionPeriod"] == "1209600"
    assert dlq["RedrivePolicy"] == ""
    assert json.loads(dlq["RedriveAllowPolicy"]) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [arn("sqs", "dev-billing")],
    }
    ledger = desired["queue", "dev-ledger.fifo"].attributes
    assert (ledger["FifoQueue"], ledger["ContentBasedDeduplication"]) == ("true", "false")
    assert desired["queue", "dev-ledger-dlq.fifo"].attributes["FifoQueue"] == "true"


def test_dead_letter_queues_come_before_their_sources(
    desired: dict[tuple[str, str], Resource],
) -> None:
    order = [r.name for r in desired.values()]
    assert order.index("dev-billing-dlq") < order.index("dev-billing")
    assert order.index("dev-fraud-review-dlq") < order.index("dev-fraud-review")


def _statements(resource: Resource) -> list[dict[str, Any]]:
    policy = resource.attributes.get("Policy", "")
    return json.loads(policy)["Statement"] if policy else []


def test_queue_policy_allows_only_the_feeding_topics_and_rules(
    desired: dict[tuple[str, str], Resource],
) -> None:
    (billing,) = _statements(desired["queue", "dev-billing"])
    assert billing["Principal"] == {"Service": "sns.amazonaws.com"}
    assert billing["Action"] == "sqs:SendMessage"
    assert billing["Resource"] == arn("sqs", "dev-billing")
    assert billing["Condition"] == {"ArnEquals": {"aws:SourceArn": [arn("sns", "dev-orders")]}}
    rule_arn = arn("events", "rule/dev-shop-events/dev-high-value-orders")
    for fed_by_rule in ("dev-fraud-review", "dev-events-undelivered"):  # target and target DLQ
        (statement,) = _statements(desired["queue", fed_by_rule])
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == [rule_arn]
    assert desired["queue", "dev-billing-dlq"].attributes["Policy"] == ""  # fed by nothing
    queues = [r for r in desired.values() if r.kind == "queue"]
    assert sum(1 for q in queues if _statements(q)) == 6  # 4 fed by topics, 2 by the rule
    for resource in queues:
        for statement in _statements(resource):
            assert statement["Principal"] != "*"
            assert statement["Condition"]["ArnEquals"]["aws:SourceArn"]


def test_subscription_dead_letter_queue_is_allowed_for_its_topic() -> None:
    topology = Topology.model_validate(
        {
            "name": "t",
            "topics": {"a": {}, "b": {}},
            "queues": {"q": {}, "undelivered": {"dead_letter": False}},
            "subscriptions": [
                {"topic": "a", "queue": "q", "dead_letter_queue": "undelivered"},
                {"topic": "b", "queue": "q"},
            ],
        }
    )
    desired = {r.key: r for r in desired_resources(topology, None, ACCOUNT)}
    (q,) = _statements(desired["queue", "q"])
    assert q["Condition"]["ArnEquals"]["aws:SourceArn"] == [arn("sns", "a"), arn("sns", "b")]
    (undelivered,) = _statements(desired["queue", "undelivered"])
    assert undelivered["Condition"]["ArnEquals"]["aws:SourceArn"] == [arn("sns", "a")]
    sub = desired["subscription", "a -> q"].attributes
    assert json.loads(sub["RedrivePolicy"]) == {"deadLetterTargetArn": arn("sqs", "undelivered")}


def test_encryption_choices() -> None:
    topology = Topology.model_validate(
        {
            "name": "t",
            "queues": {
                "plain": {"encryption": "none", "dead_letter": False},
                "keyed": {
                    "encryption": "kms",
                    "kms_master_key_id": "alias/orders",
                    "kms_data_key_reuse_period": 600,
                },
            },
        }
    )
    desired = {r.key: r for r in desired_resources(topology, None, ACCOUNT)}
    assert desired["queue", "plain"].attributes["SqsManagedSseEnabled"] == "false"
    keyed = desired["queue", "keyed"].attributes
    assert (keyed["KmsMasterKeyId"], keyed["KmsDataKeyReusePeriodSeconds"]) == (
        "alias/orders",
        "600",
    )
    assert desired["queue", "keyed-dlq"].attributes["KmsMasterKeyId"] == "alias/orders"


def test_many_sources_allow_all_redrive() -> None:
    queues: dict[str, Any] = {f"q{i}": {"dead_letter": {"queue": "shared"}} for i in range(11)}
    queues["shared"] = {}
    topology = Topology.model_validate({"name": "t", "queues": queues})
    desired = {r.key: r for r in desired_resources(topology, None, ACCOUNT)}
    allow = json.loads(desired["queue", "shared"].attributes["RedriveAllowPolicy"])
    assert allow == {"redrivePermission": "allowAll"}  # byQueue takes at most 10 sources


def test_tags_are_the_users_plus_ownership(desired: dict[tuple[str, str], Resource]) -> None:
    assert desired["topic", "dev-orders"].tags == {
        "team": "checkout",
        "bus:topology": "shop",
        "bus:env": "dev",
        "bus:managed": "true",
    }
    assert desired["subscription", "dev-orders -> dev-billing"].tags is None


def test_rule_and_target_attributes(desired: dict[tuple[str, str], Resource]) -> None:
    rule = desired["rule", "dev-shop-events/dev-high-value-orders"].attributes
    assert json.loads(rule["EventPattern"])["detail"] == {
        "data": {"total_cents": [{"numeric": [">=", 100000]}]}
    }
    assert rule["State"] == "ENABLED"
    target = desired["target", "dev-shop-events/dev-high-value-orders/fraud-review"]
    assert target.attributes["Arn"] == arn("sqs", "dev-fraud-review")
    assert json.loads(target.attributes["DeadLetterConfig"]) == {
        "Arn": arn("sqs", "dev-events-undelivered")
    }
    assert json.loads(target.attributes["RetryPolicy"]) == {
        "MaximumRetryAttempts": 10,
        "MaximumEventAgeInSeconds": 3600,
    }
    assert target.ref == {
        "bus": "dev-shop-events",
        "rule": "dev-high-value-orders",
        "id": "fraud-review",
    }


def _rule_with(*targets: dict[str, Any], queues: dict[str, Any] | None = None) -> Topology:
    return Topology.model_validate(
        {
            "name": "t",
            "queues": queues or {"q": {}},
            "rules": {"r": {"event_pattern": {"source": ["x"]}, "targets": list(targets)}},
        }
    )


def test_targets_with_input_path_and_input_transformer() -> None:
    topology = _rule_with(
        {"queue": "q", "id": "details", "input_path": "$.detail"},
        {
            "queue": "q",
            "id": "summary",
            "input_transformer": {
                "input_paths_map": {"order": "$.detail.order_id", "kind": "$.detail-type"},
                "input_template": '{"order": <order>, "kind": <kind>}',
            },
        },
        {"queue": "q", "id": "fixed", "input_transformer": {"input_template": '"ping"'}},
    )
    desired = {r.key: r for r in desired_resources(topology, "dev", ACCOUNT)}
    details = desired["target", "default/dev-r/details"]
    assert details.attributes["InputPath"] == "$.detail"
    assert details.attributes["InputTransformer"] == ""
    assert target_entry(details) == {
        "Id": "details",
        "Arn": arn("sqs", "dev-q"),
        "InputPath": "$.detail",
        "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185},
    }
    summary = desired["target", "default/dev-r/summary"]
    assert summary.attributes["InputPath"] == ""
    assert target_entry(summary) == {
        "Id": "summary",
        "Arn": arn("sqs", "dev-q"),
        "InputTransformer": {
            "InputPathsMap": {"order": "$.detail.order_id", "kind": "$.detail-type"},
            "InputTemplate": '{"order": <order>, "kind": <kind>}',
        },
        "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185},
    }
    fixed = target_entry(desired["target", "default/dev-r/fixed"])
    assert fixed["InputTransformer"] == {"InputTemplate": '"ping"'}  # no empty InputPathsMap


def test_fifo_target_gets_its_message_group_id_as_sqs_parameters() -> None:
    topology = _rule_with(
        {"queue": "ledger.fifo", "message_group_id": "ledger"},
        queues={"ledger.fifo": {"fifo": True}},
    )
    desired = {r.key: r for r in desired_resources(topology, None, ACCOUNT)}
    target = desired["target", "default/r/ledger"]  # the default id drops .fifo
    assert json.loads(target.attributes["SqsParameters"]) == {"MessageGroupId": "ledger"}
    assert target_entry(target)["SqsParameters"] == {"MessageGroupId": "ledger"}
    standard = {r.key: r for r in desired_resources(_rule_with({"queue": "q"}), None, ACCOUNT)}
    assert standard["target", "default/r/q"].attributes["SqsParameters"] == ""
    assert "SqsParameters" not in target_entry(standard["target", "default/r/q"])


def test_topic_encryption_and_fifo_deduplication() -> None:
    topology = Topology.model_validate(
        {
            "name": "t",
            "topics": {
                "plain": {},
                "secret": {"kms_master_key_id": "alias/aws/sns"},
                "ledger.fifo": {"fifo": True, "content_based_deduplication": True},
            },
        }
    )
    desired = {r.key: r for r in desired_resources(topology, None, ACCOUNT)}
    assert desired["topic", "plain"].attributes["KmsMasterKeyId"] == ""
    assert "ContentBasedDeduplication" not in desired["topic", "plain"].attributes
    secret = desired["topic", "secret"]
    assert secret.attributes["KmsMasterKeyId"] == "alias/aws/sns"
    assert create_attributes(secret) == {"KmsMasterKeyId": "alias/aws/sns"}
    ledger = desired["topic", "ledger.fifo"].attributes
    assert (ledger["FifoTopic"], ledger["ContentBasedDeduplication"]) == ("true", "true")


def test_undeclared_queue_settings_resolve_to_aws_defaults() -> None:
    topology = Topology.model_validate(
        {
            "name": "t",
            "queues": {
                "plain": {"dead_letter": False},
                "ledger.fifo": {"fifo": True, "dead_letter": False},
                "fast.fifo": {
                    "fifo": True,
                    "dead_letter": False,
                    "deduplication_scope": "messageGroup",
                    "fifo_throughput_limit": "perMessageGroupId",
                },
            },
        }
    )
    desired = {r.key: r for r in desired_resources(topology, None, ACCOUNT)}
    plain = desired["queue", "plain"].attributes
    assert plain["RedriveAllowPolicy"] == '{"redrivePermission":"allowAll"}'  # not a DLQ
    assert "DeduplicationScope" not in plain
    ledger = desired["queue", "ledger.fifo"]
    assert (ledger.attributes["DeduplicationScope"], ledger.attributes["FifoThroughputLimit"]) == (
        "queue",
        "perQueue",
    )
    assert create_attributes(ledger).keys() == {
        "VisibilityTimeout", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
        "DelaySeconds", "MaximumMessageSize", "SqsManagedSseEnabled", "FifoQueue",
        "ContentBasedDeduplication",
    }  # fmt: skip  # AWS's defaults are not sent
    fast = desired["queue", "fast.fifo"].attributes
    assert (fast["DeduplicationScope"], fast["FifoThroughputLimit"]) == (
        "messageGroup",
        "perMessageGroupId",
    )
