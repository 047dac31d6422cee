"""Upcasting through the worker, on the emulator: a version 1 OrderPlaced body sent to a queue
reaches its handler as the version 2 model."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bus.aws import AwsClients
from bus.envelope import encode_body, new_envelope
from bus.worker import Stats
from schemas.orders import OrderPlaced
from tests.worker import apps
from tests.worker.conftest import Applied, apply_topology, new_env, wait_for

pytestmark = pytest.mark.aws

TOPOLOGY = """
name: wupcast
queues:
  orders-in: {visibility_timeout: 5, dead_letter: {max_receive_count: 2}}
events:
  OrderPlaced:
    model: schemas.orders:OrderPlaced
    version: 2
    previous_versions:
      1: {model: schemas.orders:OrderPlacedV1, upcast: schemas.orders:upcast_order_placed_v1}
    publish_to: [{queue: orders-in}]
handlers:
  orders-in:
    events: {OrderPlaced: "tests.worker.apps:record_order"}
"""


@pytest_asyncio.fixture(scope="module")
async def applied(
    module_aws: AwsClients, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Applied]:
    yield await apply_topology(module_aws, TOPOLOGY, tmp_path_factory.mktemp("upcast"), new_env())


async def test_a_version_1_body_reaches_the_handler_as_version_2(applied: Applied) -> None:
    order_id = "o-" + uuid.uuid4().hex[:8]
    spec = applied.registry.spec("OrderPlaced")
    current = new_envelope(
        spec, OrderPlaced(order_id="x", customer_id="c", total_cents=0, country="DE")
    )
    v1 = {"order_id": order_id, "customer_id": "c-7", "amount": "12.34", "country": "DE"}
    old = dataclasses.replace(current, version=1, data=v1)
    attributes = {
        "event_type": {"DataType": "String", "StringValue": "OrderPlaced"},
        "event_version": {"DataType": "Number", "StringValue": "1"},
    }
    stats = Stats()
    async with applied.running(stats):
        await applied.aws.sqs.send_message(
            QueueUrl=await applied.queue_url("orders-in"),
            MessageBody=encode_body(old),
            MessageAttributes=attributes,
        )
        await wait_for(lambda: any(e.order_id == order_id for _, e in apps.ORDERS))
    ((version, event),) = [(v, e) for v, e in apps.ORDERS if e.order_id == order_id]
    assert version == 1
    assert type(event) is OrderPlaced
    assert (event.total_cents, event.currency, event.lines, event.customer_id) == (
        1234,
        "EUR",
        [],
        "c-7",
    )
    assert stats.queue("orders-in").dead_lettered == 0
    assert await applied.depth("orders-in") == 0
