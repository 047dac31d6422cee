"""observe's own control flow, with a fake client: its reads overlap, within its limit.

The fake answers every read after a short sleep as if nothing existed yet besides the queues and
topics asked for (no tags, subscriptions, rules or targets); what AWS answers is covered by the
LocalStack tests. Here only the number of calls in flight matters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bus.aws import Account
from bus.topology.load import load_topology
from bus.topology.model import ownership_tags
from bus.topology.observe import DEFAULT_CONCURRENCY, Scope, observe
from bus.topology.resolve import Resource, desired_resources

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = load_topology(ROOT / "topology.yaml")
ACCOUNT = Account(account_id="123456789012", region="eu-west-1")
DELAY = 0.005

ANSWERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "get_queue_url": lambda kw: {"QueueUrl": f"https://sqs.local/1/{kw['QueueName']}"},
    "get_queue_attributes": lambda kw: {
        "Attributes": {"QueueArn": ACCOUNT.arn("sqs", kw["QueueUrl"].rsplit("/", 1)[-1])}
    },
    "list_queue_tags": lambda kw: {"Tags": {}},
    "list_queues": lambda kw: {"QueueUrls": []},
    "get_topic_attributes": lambda kw: {"Attributes": {"TopicArn": kw["TopicArn"]}},
    "list_tags_for_resource": lambda kw: {"Tags": []},
    "list_topics": lambda kw: {"Topics": []},
    "list_subscriptions_by_topic": lambda kw: {"Subscriptions": []},
    "describe_event_bus": lambda kw: {"Arn": ACCOUNT.arn("events", f"event-bus/{kw['Name']}")},
    "list_event_buses": lambda kw: {"EventBuses": []},
    "list_rules": lambda kw: {"Rules": []},
    "describe_alarms": lambda kw: {"MetricAlarms": []},
    "list_tables": lambda kw: {"TableNames": []},
}


class Meter:
    """Counts the calls in flight and remembers the peak."""

    def __init__(self) -> None:
        self.calls = 0
        self.in_flight = 0
        self.peak = 0


class FakeService:
    def __init__(self, meter: Meter) -> None:
        self._meter = meter

    def __getattr__(self, operation: str) -> Callable[..., Awaitable[dict[str, Any]]]:
        answer = ANSWERS[operation]

        async def call(**kwargs: Any) -> dict[str, Any]:
            meter = self._meter
            meter.calls += 1
            meter.in_flight += 1
            meter.peak = max(meter.peak, meter.in_flight)
            try:
                await asyncio.sleep(DELAY)
                return answer(kwargs)
            finally:
                meter.in_flight -= 1

        return call


class FakeAws:
    def __init__(self) -> None:
        self.meter = Meter()
        self.sqs = self.sns = self.events = self.cloudwatch = self.dynamodb = FakeService(
            self.meter
        )


def _desired() -> list[Resource]:
    return desired_resources(REFERENCE, "dev", ACCOUNT)


async def _observe(limit: int, *, prune: bool = False) -> tuple[Meter, list[Resource]]:
    aws = FakeAws()
    scope = Scope("dev", ownership_tags(REFERENCE, "dev"), prune)
    found = await observe(aws, _desired(), scope, limit=limit)  # type: ignore[arg-type]
    return aws.meter, found


@pytest.mark.parametrize("limit", [4, DEFAULT_CONCURRENCY])
async def test_observe_overlaps_its_reads_within_its_limit(limit: int) -> None:
    meter, found = await _observe(limit)
    assert 1 < meter.peak <= limit, meter.peak
    assert {r.kind for r in found} == {"queue", "topic", "bus"}
    assert len([r for r in found if r.kind == "queue"]) == 11


async def test_observe_with_limit_one_reads_one_at_a_time() -> None:
    meter, _ = await _observe(1, prune=True)
    assert meter.peak == 1
    concurrent, _ = await _observe(DEFAULT_CONCURRENCY, prune=True)
    assert concurrent.calls == meter.calls  # the same reads, only overlapped
