"""The reference topology applied once per module in LocalStack, and helpers to read queues."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest_asyncio

from bus.aws import AwsClients
from bus.envelope import Decoded, decode
from bus.publish import Publisher
from bus.schema import Registry
from bus.settings import Settings
from bus.topology.apply import converge
from bus.topology.load import load_topology
from bus.topology.model import Subscription, Topology, physical_name

ROOT = Path(__file__).resolve().parents[2]

EXTRA_QUEUES = ("german-orders", "big-orders", "bulk")
"""Queues added to the reference topology: two route on exposed attribute fields, and ``bulk`` is
fed by nothing (tests publish to it directly)."""


def shop_topology() -> Topology:
    """The reference topology plus two subscriptions filtering on exposed fields."""
    reference = load_topology(ROOT / "topology.yaml")
    queue = reference.queues["shipping"]
    return reference.model_copy(
        update={
            "queues": {**reference.queues, **dict.fromkeys(EXTRA_QUEUES, queue)},
            "subscriptions": [
                *reference.subscriptions,
                Subscription(
                    topic="orders",
                    queue="german-orders",
                    raw_message_delivery=True,
                    filter_policy={"event_type": ["OrderPlaced"], "country": ["DE"]},
                ),
                Subscription(
                    topic="orders",
                    queue="big-orders",
                    raw_message_delivery=True,
                    filter_policy={"total_cents": [{"numeric": [">=", 100_000]}]},
                ),
            ],
        }
    )


@dataclass
class Received:
    """Messages read from one queue, by the ``order_id`` (or ``account_id``) of their event."""

    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, key: str, message: dict[str, Any]) -> None:
        self.messages.setdefault(key, []).append(message)


@dataclass
class Shop:
    settings: Settings
    aws: AwsClients
    topology: Topology
    registry: Registry
    env: str
    urls: dict[str, str]
    publisher: Publisher

    async def read(
        self,
        queue: str,
        until: Callable[[Received], bool],
        *,
        key: str = "order_id",
        within: float = 20.0,
    ) -> Received:
        """Receive (and delete) from ``queue`` until ``until(received)``, for ``within`` seconds."""
        received = Received()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            answer = await self.aws.sqs.receive_message(
                QueueUrl=self.urls[queue],
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            )
            messages = answer.get("Messages", [])
            for message in messages:
                data = decoded(message).envelope.data
                received.add(str(data.get(key)), dict(message))
            if messages:
                await self.aws.sqs.delete_message_batch(
                    QueueUrl=self.urls[queue],
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)
                    ],
                )
            if until(received):
                return received
        return received


def decoded(message: dict[str, Any]) -> Decoded:
    return decode(
        message["Body"], message.get("MessageAttributes"), message_id=message["MessageId"]
    )


def marker(prefix: str = "o") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest_asyncio.fixture(scope="module")
async def shop(bus_settings: Settings) -> AsyncIterator[Shop]:
    topology = shop_topology()
    registry = Registry.from_topology(topology, ROOT)
    env = "p" + uuid.uuid4().hex[:8]
    async with AwsClients(bus_settings) as aws:
        await converge(aws, topology, env)
        names = [*topology.queues, *EXTRA_QUEUES]
        urls = {}
        for name, answer in zip(
            names,
            await asyncio.gather(
                *(aws.sqs.get_queue_url(QueueName=physical_name(n, env)) for n in names)
            ),
            strict=True,
        ):
            urls[name] = answer["QueueUrl"]
        publisher = Publisher(aws, registry, topology, env)
        yield Shop(bus_settings, aws, topology, registry, env, urls, publisher)
