"""Two ``bus worker`` processes sharing the DynamoDB store (the table ``bus apply`` created) take
copies of the same events concurrently: each handler runs once per event. A claim left
in progress by a dead worker is retaken once it expires; a failed handling releases its claim, so
the next copy runs it.

Each event is published once, drained from the queue, and its message sent three times, so the
copies carry the same envelope (the same event id), as SQS's at-least-once delivery or a redrive
would hand them out."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bus.aws import AwsClients
from tests.worker import apps
from tests.worker.conftest import Applied, apply_topology, new_env, wait_for
from tests.worker.test_process import worker_process

pytestmark = pytest.mark.aws

COPIES = 3
TOPOLOGY = """
name: exactly-once
queues:
  work: {visibility_timeout: 4, dead_letter: {max_receive_count: 10}}
events:
  Ping: {model: tests.worker.apps:Ping, publish_to: [{queue: work}]}
idempotency: {store: dynamodb, table: handled, in_progress_expiry: 300}
handlers:
  work:
    events: {Ping: "tests.worker.apps:record"}
    idempotent: true
    concurrency: 4
    retry: {redelivery: {initial: 0, maximum: 0}}
"""


def _attributes(message: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in message.get("MessageAttributes", {}).items():
        kept = {"DataType": value["DataType"]}
        for field in ("StringValue", "BinaryValue"):
            if field in value:
                kept[field] = value[field]
        out[name] = kept
    return out


async def _send_copies(applied: Applied, messages: list[dict[str, Any]]) -> None:
    url = await applied.queue_url("work")
    entries = [
        {"Id": f"{i}-{copy}", "MessageBody": m["Body"], "MessageAttributes": _attributes(m)}
        for copy in range(COPIES)
        for i, m in enumerate(messages)
    ]
    for start in range(0, len(entries), 10):
        got = await applied.aws.sqs.send_message_batch(
            QueueUrl=url, Entries=entries[start : start + 10]
        )
        assert not got.get("Failed"), got


async def _stale_claim(aws: AwsClients, table: str, key: str) -> None:
    """What a worker killed mid-handler leaves: an in-progress claim, expired a minute ago."""
    now = time.time()
    await aws.dynamodb.put_item(
        TableName=table,
        Item={
            "id": {"S": key},
            "status": {"S": "in-progress"},
            "in_progress_until": {"N": str(now - 60)},
            "expires_at": {"N": str(int(now + 3600))},
        },
    )


async def test_two_workers_run_each_handler_once_per_event(aws: AwsClients, tmp_path: Path) -> None:
    applied = await apply_topology(aws, TOPOLOGY, tmp_path / "app", new_env())
    table = f"{applied.env}-handled"
    run = uuid.uuid4().hex[:6]
    events = [apps.Ping(key=f"{run}-{n}", behaviour="slow:0.3") for n in range(12)]
    events += [apps.Ping(key=f"{run}-fails-once", behaviour="fail-once")]
    events += [apps.Ping(key=f"{run}-stale")]
    await applied.publisher().publish_many(events, check=True)
    messages = await applied.drain("work")
    assert len(messages) == len(events)
    ids = {json.loads(m["Body"])["data"]["key"]: json.loads(m["Body"])["id"] for m in messages}
    await _stale_claim(aws, table, f"work:{ids[f'{run}-stale']}")
    await _send_copies(applied, messages)

    with (
        worker_process(applied, tmp_path / "w1") as one,
        worker_process(applied, tmp_path / "w2") as two,
    ):

        def handled() -> Counter[str]:
            return Counter(str(c["key"]) for c in [*one.calls(), *two.calls()])

        async def done() -> bool:
            return len(handled()) == len(events) and await applied.depth("work") == 0

        await wait_for(done, within=60, every=0.5)
        one.send(signal.SIGTERM)
        two.send(signal.SIGTERM)
        assert one.wait(20) == 0
        assert two.wait(20) == 0

    assert handled() == {e.key: 1 for e in events}, one.log.read_text()[-2000:]
    [failed_once] = [c for c in [*one.calls(), *two.calls()] if c["key"] == f"{run}-fails-once"]
    assert failed_once["attempt"] == 2  # a copy's first delivery failed and released the claim
    for key, event_id in ids.items():
        got = await aws.dynamodb.get_item(TableName=table, Key={"id": {"S": f"work:{event_id}"}})
        assert got["Item"]["status"] == {"S": "completed"}, key


async def test_a_killed_workers_claim_is_retaken_by_another(
    aws: AwsClients, tmp_path: Path
) -> None:
    """SIGKILL mid-handler: the claim stays in progress; once the message is back and the claim
    has expired (5 s), the other worker claims it and handles the event."""
    text = TOPOLOGY.replace("in_progress_expiry: 300", "in_progress_expiry: 5")
    applied = await apply_topology(aws, text, tmp_path / "app", new_env())
    key = f"killed-{uuid.uuid4().hex[:6]}"
    await applied.publisher().publish(apps.Ping(key=key, behaviour="block"))
    with worker_process(applied, tmp_path / "w1", block=True) as first:
        await wait_for(lambda: (tmp_path / "w1" / "blocked").exists(), within=30)
        first.send(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    [item] = (await aws.dynamodb.scan(TableName=f"{applied.env}-handled"))["Items"]
    assert item["status"] == {"S": "in-progress"}  # the dead worker's claim
    with worker_process(applied, tmp_path / "w2") as second:  # "block" does not block here
        await wait_for(lambda: len(second.calls()) == 1, within=45, every=0.5)
    [call] = second.calls()
    assert call["key"] == key
    assert call["attempt"] >= 2
    got = await aws.dynamodb.get_item(TableName=f"{applied.env}-handled", Key={"id": item["id"]})
    assert got["Item"]["status"] == {"S": "completed"}
