"""``cloudevents.source`` and ``cloudevents.type_prefix`` end to end, against the emulator: an event
published with a URI source and a reverse-DNS type passes an SNS filter policy and an EventBridge
rule that name them, and a running worker hands it to the handler bound to the event's name."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bus.aws import AwsClients
from bus.worker import Stats
from tests.worker import apps
from tests.worker.conftest import Applied, apply_topology, new_env, wait_for

pytestmark = pytest.mark.aws

TOPOLOGY = """
name: wprefix
cloudevents:
  source: urn:example:wprefix
  type_prefix: com.example.wprefix.
topics:
  pings: {}
queues:
  filtered: {visibility_timeout: 5}
  ruled: {visibility_timeout: 5}
subscriptions:
  - topic: pings
    queue: filtered
    raw_message_delivery: true
    filter_policy: {event_type: [com.example.wprefix.Ping]}
buses:
  pings-bus: {}
rules:
  pings-rule:
    bus: pings-bus
    event_pattern:
      source: [urn:example:wprefix]
      detail-type: [com.example.wprefix.Ping]
    targets: [{queue: ruled}]
events:
  Ping:
    model: tests.worker.apps:Ping
    publish_to: [{topic: pings}, {bus: pings-bus}]
handlers:
  filtered:
    events: {Ping: "tests.worker.apps:record"}
  ruled:
    events: {Ping: "tests.worker.apps:record"}
"""


@pytest_asyncio.fixture(scope="module")
async def applied(
    module_aws: AwsClients, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Applied]:
    yield await apply_topology(module_aws, TOPOLOGY, tmp_path_factory.mktemp("prefix"), new_env())


async def test_prefixed_types_are_routed_and_handled(applied: Applied) -> None:
    k = "k" + uuid.uuid4().hex[:10]
    stats = Stats()
    async with applied.running(stats):
        result = await applied.publisher().publish(apps.Ping(key=k))
        await wait_for(lambda: {c.queue for c in apps.calls(k)} == {"filtered", "ruled"})
    assert {c.event_id for c in apps.calls(k)} == {result.event_id}
    assert stats.queue("filtered").dead_lettered == stats.queue("ruled").dead_lettered == 0
