"""A redelivery comes back after the delay the worker logged, not at once, nor only after the
visibility timeout.

The queues' visibility timeout is 10 s and the redelivery backoff under a second: the delay is
rounded up to 1 s (never to 0, which would mean no backoff at all), and the second attempt starts
no earlier than that and well before the visibility timeout would have let the message out (a
behaviour check on ChangeMessageVisibility and the FIFO hold, measured with a clock; not a speed
target).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from structlog.testing import capture_logs

from bus.aws import AwsClients
from bus.worker import Stats
from tests.worker import apps
from tests.worker.conftest import Applied, apply_topology, new_env, wait_for

pytestmark = pytest.mark.aws

VISIBILITY = 10
TOPOLOGY = f"""
name: wredeliver
queues:
  later: {{visibility_timeout: {VISIBILITY}, dead_letter: {{max_receive_count: 5}}}}
  later.fifo:
    fifo: true
    visibility_timeout: {VISIBILITY}
    dead_letter: {{max_receive_count: 5}}
events:
  Ping: {{model: tests.worker.apps:Ping, publish_to: [{{queue: later}}]}}
  GroupPing:
    model: tests.worker.apps:GroupPing
    publish_to: [{{queue: later.fifo}}]
    message_group_id: group
handlers:
  later:
    events: {{Ping: "tests.worker.apps:record"}}
    retry: {{redelivery: {{initial: 0.4, multiplier: 2, maximum: 30}}}}
  later.fifo:
    events: {{GroupPing: "tests.worker.apps:record"}}
    retry: {{redelivery: {{initial: 0.9, multiplier: 2, maximum: 30}}}}
"""


@pytest_asyncio.fixture(scope="module")
async def applied(
    module_aws: AwsClients, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Applied]:
    yield await apply_topology(module_aws, TOPOLOGY, tmp_path_factory.mktemp("later"), new_env())


@pytest.mark.parametrize("queue", ["later", "later.fifo"])
async def test_redelivery_comes_back_after_the_logged_delay(applied: Applied, queue: str) -> None:
    k = "r" + uuid.uuid4().hex[:10]
    event = apps.Ping(key=k, behaviour="fail-once")
    if queue.endswith(".fifo"):
        event = apps.GroupPing(key=k, behaviour="fail-once", group=k)
    stats = Stats()
    with capture_logs() as logs:
        async with applied.running(stats):
            await applied.publisher().publish(event)
            await wait_for(lambda: len(apps.calls(k)) == 1, within=30)
    (call,) = apps.calls(k)
    assert call.attempt == 2
    (failed,) = [e for e in logs if e["event"] == "handler failed; redelivering later"]
    assert failed["delay"] == 1
    first, second = apps.STARTS[k]
    assert failed["delay"] <= second - first < VISIBILITY / 2
    assert stats.queue(queue).redelivered == 1
