"""FIFO queues: each message group in order, one at a time; groups in parallel; a failure holds
the rest of its group back instead of reordering it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bus.aws import AwsClients
from bus.worker import Stats
from bus.worker.fifo import split_groups
from bus.worker.message import Received
from tests.worker import apps
from tests.worker.conftest import Applied, apply_topology, new_env, wait_for

TOPOLOGY = """
name: wfifo
queues:
  seq.fifo:
    fifo: true
    visibility_timeout: 5
    dead_letter: {max_receive_count: 4}
events:
  Seq:
    model: tests.worker.apps:Seq
    publish_to: [{queue: seq.fifo}]
    message_group_id: group
handlers:
  seq.fifo:
    concurrency: 10
    events: {Seq: "tests.worker.apps:apply_seq"}
    retry: {redelivery: {initial: 0, maximum: 0}}
"""


def _received(group: str, n: int) -> Received:
    return Received.from_sqs(
        {
            "MessageId": f"{group}{n}",
            "ReceiptHandle": "r",
            "Body": "",
            "Attributes": {"MessageGroupId": group},
        }
    )


def test_split_groups_keeps_receive_order_within_each_group() -> None:
    batch = [_received(g, n) for n, g in enumerate("abacbba")]
    groups = split_groups(batch)
    assert [[m.message_id for m in g] for g in groups] == [
        ["a0", "a2", "a6"],
        ["b1", "b4", "b5"],
        ["c3"],
    ]


@pytest_asyncio.fixture(scope="module")
async def applied(
    module_aws: AwsClients, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Applied]:
    yield await apply_topology(module_aws, TOPOLOGY, tmp_path_factory.mktemp("fifo"), new_env())


@pytest.mark.aws
async def test_order_holds_within_groups_with_several_groups_in_flight(applied: Applied) -> None:
    run = uuid.uuid4().hex[:6]
    groups = [f"{run}-{g}" for g in "abcd"]
    events = [
        apps.Seq(group=g, n=n, key=f"{g}-{n}" + ("!" if n in (3, 7) and g.endswith("a") else ""))
        for n in range(12)
        for g in groups
    ]
    stats = Stats()
    async with applied.running(stats):
        results = await applied.publisher().publish_many(events, check=True)
        assert len(results) == len(events)
        await wait_for(lambda: all(len(apps.SEQUENCE.get(g, [])) == 12 for g in groups), within=60)
    for g in groups:
        assert apps.SEQUENCE[g] == list(range(12)), g
    assert apps.GROUPS_PEAK[0] > 1  # groups did run in parallel
    queue = stats.queue("seq.fifo")
    assert queue.redelivered == 2  # a-3 and a-7 failed once each...
    assert queue.released >= 1  # ...and held the rest of their batch back
    assert queue.dead_lettered == 0
    assert await applied.depth("seq.fifo") == 0
