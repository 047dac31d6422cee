"""2,000 events with 10% random handler failures: every event ends handled or in the DLQ."""

from __future__ import annotations

import json
import uuid

import pytest

from bus.aws import AwsClients
from bus.aws.failure import read_failure
from bus.worker import Stats
from tests.worker import apps
from tests.worker.conftest import apply_topology, new_env, wait_for

pytestmark = pytest.mark.aws

COUNT = 2_000

TOPOLOGY = """
name: wbulk
topics:
  bulk: {}
queues:
  bulk: {visibility_timeout: 10, dead_letter: {max_receive_count: 3}}
subscriptions:
  - {topic: bulk, queue: bulk, raw_message_delivery: true}
events:
  Ping: {model: tests.worker.apps:Ping, publish_to: [{topic: bulk}]}
handlers:
  bulk:
    concurrency: 40
    pollers: 3
    events: {Ping: "tests.worker.apps:record"}
    retry: {redelivery: {initial: 0, maximum: 0}}
"""


@pytest.mark.timeout(240)
async def test_every_event_is_handled_or_dead_lettered(
    module_aws: AwsClients, tmp_path_factory: pytest.TempPathFactory
) -> None:
    applied = await apply_topology(module_aws, TOPOLOGY, tmp_path_factory.mktemp("bulk"), new_env())
    run = uuid.uuid4().hex[:8]
    keys = {f"{run}-{i}" for i in range(COUNT)}
    stats = Stats()
    async with applied.running(stats):
        results = await applied.publisher().publish_many(
            (apps.Ping(key=k, behaviour="random-10") for k in sorted(keys)), check=True
        )
        assert len(results) == COUNT
        await wait_for(
            lambda: len(apps.keys_handled(run)) + stats.queue("bulk").dead_lettered >= COUNT,
            within=180,
            every=0.5,
        )
    handled = apps.keys_handled(run)
    dead_letters = await applied.drain("bulk-dlq")
    dead = {json.loads(m["Body"])["data"]["key"] for m in dead_letters}
    assert handled | dead == keys  # none missing
    assert not handled & dead
    assert len(dead_letters) == len(dead)
    for message in dead_letters:
        failure = read_failure(message["MessageAttributes"]["bus.failure"]["StringValue"])
        assert (failure.reason, failure.attempt) == ("handler-error", 3)
    queue = stats.queue("bulk")
    assert queue.redelivered > 0.05 * COUNT  # about 10% of deliveries failed
    assert await applied.depth("bulk") == 0
