"""A standard DLQ some of whose messages someone else holds in flight (against the embedded
LocalStack): every command that reads it says how many it did not reach; ``export``, ``purge`` and
``redrive`` (also ``--dry-run``, and the whole-queue move task, which moves only what it can
receive) exit 1 instead of reporting success, ``show`` and ``list`` warn;
none leaves anything hidden of its own (the only hidden messages are the other client's)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bus.aws import AwsClients
from bus.cli import app
from bus.settings import Settings

pytestmark = pytest.mark.aws

BODIES = [f"not an envelope {n}" for n in range(6)]
HIDDEN = 2


class Queues:
    def __init__(self, settings: Settings, env: str) -> None:
        self.settings = settings
        self.dlq = f"{env}-orders-dlq"
        self.source = f"{env}-orders"

    async def _url(self, aws: AwsClients, name: str) -> str:
        return (await aws.sqs.get_queue_url(QueueName=name))["QueueUrl"]

    async def fill_and_hide(self) -> list[str]:
        """Send ``BODIES`` to the DLQ, then receive ``HIDDEN`` of them from another client, hidden
        for two minutes; their receipt handles."""
        async with AwsClients(self.settings) as aws:
            url = (await aws.sqs.create_queue(QueueName=self.dlq))["QueueUrl"]
            arn = (await aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]))[
                "Attributes"
            ]["QueueArn"]
            policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3})
            await aws.sqs.create_queue(QueueName=self.source, Attributes={"RedrivePolicy": policy})
            for body in BODIES:
                await aws.sqs.send_message(QueueUrl=url, MessageBody=body)
            answer = await aws.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=HIDDEN, VisibilityTimeout=120
            )
            return [m["ReceiptHandle"] for m in answer["Messages"]]

    async def depth(self, name: str | None = None) -> tuple[int, int]:
        async with AwsClients(self.settings) as aws:
            answer = await aws.sqs.get_queue_attributes(
                QueueUrl=await self._url(aws, name or self.dlq),
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )
        attrs = answer["Attributes"]
        return (
            int(attrs["ApproximateNumberOfMessages"]),
            int(attrs["ApproximateNumberOfMessagesNotVisible"]),
        )

    async def release(self, receipts: list[str]) -> None:
        async with AwsClients(self.settings) as aws:
            url = await self._url(aws, self.dlq)
            for receipt in receipts:
                await aws.sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0
                )


def test_commands_say_what_others_hold_in_flight(
    bus_settings: Settings, bus_env: str, tmp_path: Path
) -> None:
    queues = Queues(bus_settings, bus_env)
    receipts = asyncio.run(queues.fill_and_hide())
    assert len(receipts) == HIDDEN
    topology = tmp_path / "topology.yaml"
    topology.write_text("name: inflight\nqueues:\n  orders: {}\n")
    common = ["-t", str(topology), "-e", bus_env]
    warning = f"about {HIDDEN} messages of {queues.dlq} were not reached. They were in flight"

    def run(*args: str, code: int) -> Any:
        result = CliRunner().invoke(app, ["dlq", *args, *common])
        assert result.exit_code == code, result.output
        assert warning in result.stderr
        assert asyncio.run(queues.depth())[1] == HIDDEN  # nothing hidden of its own
        return result

    assert asyncio.run(queues.depth()) == (len(BODIES) - HIDDEN, HIDDEN)
    shown = run("show", "orders-dlq", code=0)  # show only warns
    assert shown.stdout.count("not an envelope") == len(BODIES) - HIDDEN
    listed = run("list", code=0)  # list only warns (its depth column counts them in flight)
    assert f"({HIDDEN} in flight)" in listed.stdout
    assert f"about {HIDDEN} not reached" in listed.stdout
    path = tmp_path / "out.jsonl"
    exported = run("export", "orders-dlq", "-o", str(path), code=1)
    assert f"about {HIDDEN} not reached" in exported.stdout
    assert f"Exported {len(BODIES) - HIDDEN} of" not in exported.stdout
    assert len(path.read_text().splitlines()) == len(BODIES) - HIDDEN
    purged = run("purge", "orders-dlq", "--filter", 'body == "none"', "--yes", code=1)
    assert "Purge incomplete: about 2 not reached." in purged.stderr
    dry = run("redrive", "orders-dlq", "--to", "orders", "--reason", "max-receives", "--dry-run",
              code=1)  # fmt: skip
    assert "Dry run incomplete: about 2 not reached." in dry.stderr
    assert asyncio.run(queues.depth()) == (len(BODIES) - HIDDEN, HIDDEN)  # all still there

    moved = CliRunner().invoke(
        app, ["dlq", "redrive", "orders-dlq", "--to", "orders", "--reason", "max-receives",
              "--yes", *common]
    )  # fmt: skip
    assert moved.exit_code == 1, moved.output
    assert f"Redrove {len(BODIES) - HIDDEN} of {len(BODIES) - HIDDEN} messages" in moved.stdout
    assert "Redrive incomplete: about 2 not reached." in moved.stderr
    assert warning in moved.stderr
    assert asyncio.run(queues.depth()) == (0, HIDDEN)
    assert asyncio.run(queues.depth(queues.source)) == (len(BODIES) - HIDDEN, 0)
    whole = run("redrive", "orders-dlq", "--to", "orders", "--yes", code=1)  # the move task
    assert "Moved 0 messages" in whole.stdout

    asyncio.run(queues.release(receipts))
    again = CliRunner().invoke(app, ["dlq", "export", "orders-dlq", "-o", str(path), *common])
    assert again.exit_code == 0, again.output  # everything reachable again: a complete export
    assert f"Exported {HIDDEN} of {HIDDEN} messages" in again.stdout
    assert asyncio.run(queues.depth()) == (HIDDEN, 0)
