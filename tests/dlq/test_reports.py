"""Why a dead letter without ``bus.failure`` is in its DLQ (``bus.aws.reports``, pure): SQS's
redrive, EventBridge's report (its message attributes, labelled as the service's word), or
unknown (SNS says nothing); and what the topology says dead-letters into each DLQ."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bus.aws.failure import UNKNOWN, UNTRUSTED
from bus.aws.reports import EVENTBRIDGE, eventbridge_report
from bus.dlq.letter import MAX_RECEIVES, from_sqs
from bus.topology.load import load_topology
from bus.topology.model import physical_name
from tests.dlq.test_letter import ENVELOPE, FAILURE

ROOT = Path(__file__).resolve().parents[2]
RULE = "arn:aws:events:us-east-1:123456789012:rule/shop-events/dev-high-value-orders"
TARGET = "arn:aws:sqs:us-east-1:123456789012:dev-fraud-review"
REPORT = {  # as AWS documents them on an event EventBridge dead-lettered
    "ERROR_CODE": "NO_PERMISSIONS",
    "ERROR_MESSAGE": "EventBridge is not authorized to send messages to the queue",
    "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
    "RETRY_ATTEMPTS": "0",
    "RULE_ARN": RULE,
    "TARGET_ARN": TARGET,
}


def entry(attributes: dict[str, str], failure: Any = None, **system: str) -> dict[str, Any]:
    attrs = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
    if failure is not None:
        attrs["bus.failure"] = {"DataType": "String", "StringValue": json.dumps(failure)}
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "rh",
        "Body": json.dumps(ENVELOPE),
        "MessageAttributes": attrs,
        "Attributes": {"SentTimestamp": "1795458181852", **system},
    }


def test_eventbridges_report_gives_the_reason_labelled_as_its_own() -> None:
    letter = from_sqs(entry(REPORT), services={EVENTBRIDGE})
    f = letter.failure
    assert f.reason == "eventbridge:NO_PERMISSIONS"
    assert (f.error_type, f.error, f.attempt) == ("NO_PERMISSIONS", REPORT["ERROR_MESSAGE"], 1)
    assert f.reported_by == EVENTBRIDGE
    assert not f.trusted
    assert f.queue is None  # TARGET_ARN never names a redrive destination
    assert f.to_dict()["reported_by"] == EVENTBRIDGE


def test_a_queue_the_topology_does_not_describe_reads_the_report_too() -> None:
    assert from_sqs(entry(REPORT)).failure.reason == "eventbridge:NO_PERMISSIONS"


def test_the_report_is_not_read_where_eventbridge_does_not_write() -> None:
    """A sender can set these attributes on any queue: in a DLQ only SQS's redrive feeds, they
    are not taken for EventBridge's word."""
    assert from_sqs(entry(REPORT), services={"SQS"}).failure.reason == MAX_RECEIVES


def test_an_sns_dead_letter_has_no_known_reason() -> None:
    letter = from_sqs(entry({}), services={"SNS"})
    assert letter.failure.reason == UNKNOWN
    assert not letter.failure.trusted


def test_sqs_redrive_and_bus_failure_come_before_the_report() -> None:
    moved = entry(REPORT, DeadLetterQueueSourceArn=TARGET)
    assert from_sqs(moved, services={EVENTBRIDGE}).failure.reason == MAX_RECEIVES
    recorded = from_sqs(entry(REPORT, FAILURE), services={EVENTBRIDGE, "SQS"}).failure
    assert (recorded.reason, recorded.reported_by, recorded.trusted) == (
        "handler-error",
        None,
        True,
    )


@pytest.mark.parametrize(
    "attributes",
    [
        {k: v for k, v in REPORT.items() if k != "RULE_ARN"},
        {**REPORT, "ERROR_CODE": "no such code; rm -rf"},
        {**REPORT, "ERROR_CODE": "X" * 65},
    ],
)
def test_a_partial_or_odd_report_is_no_report(attributes: dict[str, str]) -> None:
    assert eventbridge_report(entry(attributes)["MessageAttributes"]) is None
    assert from_sqs(entry(attributes), services={EVENTBRIDGE}).failure.reason == UNKNOWN


def test_a_report_only_reads_string_attributes_and_cuts_long_messages() -> None:
    attrs = entry({**REPORT, "ERROR_MESSAGE": "x" * 5000, "RETRY_ATTEMPTS": "lots"})
    report = eventbridge_report(attrs["MessageAttributes"])
    assert report is not None
    assert report.error is not None
    assert len(report.error) == 1003
    assert report.attempt is None
    attrs["MessageAttributes"]["ERROR_CODE"]["DataType"] = "Binary"
    assert eventbridge_report(attrs["MessageAttributes"]) is None


def test_bus_failure_with_reason_unknown_is_not_bus_s_own() -> None:
    letter = from_sqs(entry({}, {**FAILURE, "reason": UNKNOWN}), services={"SNS"})
    assert letter.failure.reason == UNTRUSTED


def test_the_reference_topology_names_what_feeds_each_dlq_in_order() -> None:
    topology = load_topology(ROOT / "topology.yaml")
    feeds = topology.dead_letter_feeds()
    assert list(feeds) == [
        "billing-dlq", "shipping-dlq", "notifications-dlq", "fraud-review-dlq",
        "ledger-dlq.fifo", "events-undelivered",
    ]  # fmt: skip
    assert set(feeds) == topology.dead_letter_queues()
    (target,) = feeds["events-undelivered"]
    assert (target.service, target.rule, target.queue) == (
        EVENTBRIDGE,
        "high-value-orders",
        "fraud-review",
    )
    dev = target.physical(lambda name: physical_name(name, "dev"))
    assert dev.describe() == "rule dev-high-value-orders -> dev-fraud-review"
    assert [f.service for f in feeds["billing-dlq"]] == ["SQS"]


def test_subscriptions_and_named_targets_are_described_with_their_topic_and_id(
    tmp_path: Path,
) -> None:
    text = (ROOT / "topology.yaml").read_text()
    text = text.replace(
        "    filter_policy_scope: MessageBody\n",
        "    filter_policy_scope: MessageBody\n    dead_letter_queue: events-undelivered\n",
    ).replace("      - queue: fraud-review\n", "      - queue: fraud-review\n        id: review\n")
    (tmp_path / "topology.yaml").write_text(text)
    feeds = load_topology(tmp_path / "topology.yaml").dead_letter_feeds()["events-undelivered"]
    assert [f.describe() for f in feeds] == [
        "topic orders -> notifications",
        "rule high-value-orders target review -> fraud-review",
    ]
    assert feeds[0].to_json() == {"service": "SNS", "queue": "notifications", "topic": "orders"}
