"""Clients opened on one event loop and used from another (a Publisher opened at start-up and
used from ``asyncio.run``, a fixture's clients in another test's loop): the Publisher and the
Worker say so in one clear line before any call, instead of aiohttp's "attached to a different
loop" from every call, reported as failures at AWS. Opening the clients makes no call to AWS, and
neither does the check: no emulator needed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bus.aws import AwsClients
from bus.errors import BusError
from bus.publish import Publisher
from bus.schema import Registry
from bus.settings import Settings
from bus.topology.load import load_topology
from bus.worker import Worker
from schemas.orders import OrderPlaced

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = Settings(region="us-east-1", endpoint_url="http://127.0.0.1:9")  # never called
ELSEWHERE = "these AwsClients were opened on another event loop"


def test_a_publisher_and_a_worker_used_from_another_loop_say_so() -> None:
    topology = load_topology(ROOT / "topology.yaml", env="t")
    opened = asyncio.new_event_loop()
    aws = opened.run_until_complete(AwsClients(SETTINGS).__aenter__())
    try:
        publisher = Publisher(aws, Registry.from_topology(topology, ROOT), topology, "t")
        event = OrderPlaced(order_id="o-1", customer_id="c-1", total_cents=10, country="NL")
        with pytest.raises(BusError, match=ELSEWHERE):
            asyncio.run(publisher.publish(event))
        with pytest.raises(BusError, match=ELSEWHERE):
            asyncio.run(publisher.publish_many([event]))
        worker = Worker(aws, topology, env="t", base_dir=ROOT)
        with pytest.raises(BusError, match=ELSEWHERE):
            asyncio.run(worker.start())
        # on the loop they were opened on, nothing to say
        opened.run_until_complete(_same_loop(aws))
    finally:
        opened.run_until_complete(aws.__aexit__(None, None, None))
        opened.close()


async def _same_loop(aws: AwsClients) -> None:
    aws.ensure_loop()
