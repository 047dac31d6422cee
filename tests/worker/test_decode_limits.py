"""A running worker dead-letters bodies beyond the decoder's limits at once, with the precise
reason (issue 16 §1): a deeply nested body and a lone surrogate, against the emulator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bus.aws import AwsClients
from bus.aws.failure import read_failure
from bus.worker import Stats
from tests.worker.conftest import Applied, apply_topology, new_env, wait_for

pytestmark = pytest.mark.aws

TOPOLOGY = """
name: wlimits
queues:
  inbox: {visibility_timeout: 5, dead_letter: {max_receive_count: 5}}
events:
  Ping: {model: tests.worker.apps:Ping, publish_to: [{queue: inbox}]}
handlers:
  inbox:
    events: {Ping: "tests.worker.apps:record"}
"""

ENVELOPE = {"specversion": "1.0", "id": "e-1", "source": "wlimits", "type": "Ping"}


@pytest_asyncio.fixture(scope="module")
async def applied(
    module_aws: AwsClients, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Applied]:
    yield await apply_topology(module_aws, TOPOLOGY, tmp_path_factory.mktemp("limits"), new_env())


async def test_deep_and_surrogate_bodies_are_dead_lettered_at_once_with_the_reason(
    applied: Applied,
) -> None:
    deep = '{"a":' * 5000 + "1" + "}" * 5000
    surrogate = json.dumps({**ENVELOPE, "data": {"key": "k\ud800"}})
    assert surrogate.isascii()  # the escape \ud800: SQS carries it as plain text
    bodies = {
        deep: "body nests JSON objects and arrays more than 64 levels deep",
        surrogate: "body at data.key holds a lone surrogate (\\ud800, offset 1)",
    }
    url = await applied.queue_url("inbox")
    sent = {}
    for body in bodies:
        answer = await applied.aws.sqs.send_message(QueueUrl=url, MessageBody=body)
        sent[answer["MessageId"]] = body
    stats = Stats()
    async with applied.running(stats):
        await wait_for(lambda: stats.queue("inbox").dead_lettered == len(bodies))
    assert stats.queue("inbox").processed == 0
    assert stats.queue("inbox").redelivered == 0
    dead = await applied.drain("inbox-dlq")
    assert len(dead) == len(bodies)
    for message in dead:
        failure = read_failure(message["MessageAttributes"]["bus.failure"]["StringValue"])
        assert failure is not None
        body = sent[failure.message_id]
        assert message["Body"] == body
        assert (failure.reason, failure.attempt) == ("decode-error", 1)
        assert failure.error_type == "bus.errors.DecodeError"
        assert bodies[body] in failure.error
    assert await applied.depth("inbox") == 0
