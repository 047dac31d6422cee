"""The DLQs of SNS subscriptions and rule targets, on LocalStack: ``bus dlq list`` lists them with
what they serve and why their messages died, ``show`` labels EventBridge's report, ``redrive``
sends their messages to the subscribed or target queue.

SNS really dead-letters here: the subscribed queue is deleted, SNS cannot deliver and writes the
message to the subscription's DLQ. EventBridge does not: LocalStack 4.13.1 does not implement a
target's ``DeadLetterConfig`` (its events provider never writes to it; checked 2026-12), so the
test puts the dead letter there itself with SendMessage, carrying the message attributes AWS
documents on an event EventBridge dead-lettered (ERROR_CODE, ERROR_MESSAGE,
EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS, RULE_ARN, TARGET_ARN) and the event as body.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from typer.testing import CliRunner

from bus.cli import app, main
from bus.settings import Settings
from tests.dlq.world import World, open_world, wait_for

pytestmark = pytest.mark.aws

TOPOLOGY = """
name: svcdlq
topics:
  alerts: {}
queues:
  review: {dead_letter: false}
  inbox: {dead_letter: false}
  undelivered: {dead_letter: false}
  unsent: {dead_letter: false}
subscriptions:
  - topic: alerts
    queue: inbox
    raw_message_delivery: true
    dead_letter_queue: unsent
buses:
  svc: {}
rules:
  big:
    bus: svc
    event_pattern: {source: [svc]}
    targets:
      - queue: review
        dead_letter_queue: undelivered
"""
EVENT = {
    "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "OrderPlaced",
    "source": "svc", "account": "000000000000", "time": "2026-12-02T10:00:00Z",
    "region": "us-east-1", "resources": [], "detail": {"order_id": "o-eb"},
}  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(
    bus_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    async with open_world(bus_settings, TOPOLOGY, tmp_path_factory.mktemp("svc-dlq")) as w:
        await eventbridge_dead_letter(w)
        await sns_dead_letter(w)
        yield w


def cli(world: World, *args: str) -> Any:
    return CliRunner().invoke(app, ["dlq", *args, "-t", str(world.path), "-e", world.env])


async def eventbridge_dead_letter(world: World) -> None:
    account = "000000000000"
    report = {
        "ERROR_CODE": "NO_PERMISSIONS",
        "ERROR_MESSAGE": "EventBridge is not authorized to send messages to the queue",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "RETRY_ATTEMPTS": "0",
        "RULE_ARN": f"arn:aws:events:us-east-1:{account}:rule/{world.name('svc')}/{world.name('big')}",
        "TARGET_ARN": f"arn:aws:sqs:us-east-1:{account}:{world.name('review')}",
    }
    await world.send_raw(
        "undelivered",
        [json.dumps(EVENT)],
        {k: {"DataType": "String", "StringValue": v} for k, v in report.items()},
    )


async def sns_dead_letter(world: World) -> None:
    """SNS itself dead-letters: the subscribed queue is gone when the message is published."""
    await world.aws.sqs.delete_queue(QueueUrl=await world.url("inbox"))
    topics = await world.aws.sns.list_topics()
    (arn,) = [
        t["TopicArn"] for t in topics["Topics"] if t["TopicArn"].endswith(world.name("alerts"))
    ]
    await world.aws.sns.publish(TopicArn=arn, Message='{"order_id": "o-sns"}')

    async def arrived() -> bool:
        return await world.total("unsent") == 1

    await wait_for(arrived, within=10)


def test_list_names_what_each_dlq_serves_and_why_its_messages_died(world: World) -> None:
    listed = cli(world, "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {row["logical"]: row for row in json.loads(listed.stdout)}
    assert list(rows) == ["unsent", "undelivered"]  # subscriptions' DLQs, then targets'
    undelivered, unsent = rows["undelivered"], rows["unsent"]
    assert undelivered["serves"] == [f"rule {world.name('big')} -> {world.name('review')}"]
    assert undelivered["deliveries"] == [{
        "service": "EventBridge", "queue": world.name("review"), "rule": world.name("big"),
        "target": None, "transformed": False,
    }]  # fmt: skip
    assert (undelivered["sources"], undelivered["depth"]) == ([], 1)
    assert undelivered["reasons"] == {"eventbridge:NO_PERMISSIONS": 1}
    assert unsent["serves"] == [f"topic {world.name('alerts')} -> {world.name('inbox')}"]
    assert (unsent["depth"], unsent["reasons"]) == (1, {"unknown": 1})
    table = cli(world, "list")
    assert table.exit_code == 0, table.output
    line = next(r for r in table.stdout.splitlines() if r.startswith(world.name("undelivered")))
    assert line.split("\t")[1:3] == [f"rule {world.name('big')} -> {world.name('review')}", "1"]
    assert line.split("\t")[4] == "eventbridge:NO_PERMISSIONS 1"


def test_show_labels_eventbridges_report_as_its_own(world: World) -> None:
    shown = cli(world, "show", "undelivered")
    assert shown.exit_code == 0, shown.output
    assert "eventbridge:NO_PERMISSIONS (attempt 1)" in shown.stdout
    assert "reported by   EventBridge, in message attributes anyone" in shown.stdout
    assert "gave up on    MaximumRetryAttempts" in shown.stdout


def test_redrive_sends_to_the_target_queue_or_refuses_in_one_line(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # SNS's DLQ: its queue is gone, so there is nowhere to go but --to, said in one line.
    with pytest.raises(SystemExit) as exited:
        main(["dlq", "redrive", "unsent", "-t", str(world.path), "-e", world.env, "--yes"])
    assert exited.value.code == 3
    assert capsys.readouterr().err == (
        f"error: cannot redrive {world.name('unsent')}: its queue {world.name('inbox')} does not "
        "exist: use --to\n"
    )
    assert cli(world, "list", "--json").stdout.count('"depth": 1') == 2  # nothing moved

    # EventBridge's DLQ goes back to the target's queue: copied, then deleted.
    moved = cli(world, "redrive", "undelivered", "--yes")
    assert moved.exit_code == 0, moved.output
    assert (
        f"Redrove 1 of 1 messages of {world.name('undelivered')} (1 to {world.name('review')})"
        in moved.stdout
    )


async def test_the_redriven_event_is_in_the_target_queue(world: World) -> None:
    assert await world.total("undelivered") == 0
    received = await world.aws.sqs.receive_message(QueueUrl=await world.url("review"))
    (message,) = received["Messages"]
    assert json.loads(message["Body"])["detail"] == {"order_id": "o-eb"}
