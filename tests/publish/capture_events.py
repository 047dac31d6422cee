"""Capture real SQS messages into tests/events/*.json (run once; the files are test fixtures).

    .venv/bin/python -m tests.publish.capture_events

Starts its own LocalStack (or uses AWS_ENDPOINT_URL), wires one queue per route by hand (raw SQS,
SNS raw delivery, SNS-in-SQS, EventBridge-in-SQS), publishes one OrderPlaced through the
``Publisher`` and writes each received message (as ReceiveMessage returns it) to tests/events/.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from bus import emulator
from bus.aws import AwsClients
from bus.publish import Publisher
from bus.schema import EventSpec, Registry
from bus.settings import Settings
from bus.topology.model import Destination, Topology
from schemas.orders import OrderLine, OrderPlaced

OUT = Path(__file__).resolve().parents[1] / "events"
ENV = "capture"


def _topology() -> Topology:
    return Topology.model_validate(
        {
            "name": "shop",
            "topics": {"orders": {}},
            "queues": {"raw": {}, "sns-raw": {}, "sns": {}, "eventbridge": {}},
            "buses": {"shop-events": {}},
        }
    )


async def _wire(aws: AwsClients) -> dict[str, str]:
    urls = {}
    for name in ("raw", "sns-raw", "sns", "eventbridge"):
        urls[name] = (await aws.sqs.create_queue(QueueName=f"{ENV}-{name}"))["QueueUrl"]
    arns = {}
    for name, url in urls.items():
        attrs = await aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        arns[name] = attrs["Attributes"]["QueueArn"]
    topic = (await aws.sns.create_topic(Name=f"{ENV}-orders"))["TopicArn"]
    for name, raw in (("sns-raw", "true"), ("sns", "false")):
        await aws.sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=arns[name],
            Attributes={"RawMessageDelivery": raw},
        )
    await aws.events.create_event_bus(Name=f"{ENV}-shop-events")
    await aws.events.put_rule(
        Name=f"{ENV}-all-orders",
        EventBusName=f"{ENV}-shop-events",
        EventPattern=json.dumps({"source": ["shop"], "detail-type": ["OrderPlaced"]}),
    )
    await aws.events.put_targets(
        Rule=f"{ENV}-all-orders",
        EventBusName=f"{ENV}-shop-events",
        Targets=[{"Id": "eventbridge", "Arn": arns["eventbridge"]}],
    )
    return urls


async def _receive(aws: AwsClients, url: str) -> dict[str, Any]:
    for _ in range(20):
        answer = await aws.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        if answer.get("Messages"):
            return dict(answer["Messages"][0])
    raise RuntimeError(f"nothing arrived in {url}")


async def capture(settings: Settings) -> None:
    async with AwsClients(settings) as aws:
        urls = await _wire(aws)
        spec = EventSpec(
            name="OrderPlaced",
            version=2,
            model=OrderPlaced,
            source="shop",
            destinations=(
                Destination(topic="orders"),
                Destination(bus="shop-events"),
                Destination(queue="raw"),
            ),
            attributes=("country", "currency", "total_cents"),
        )
        publisher = Publisher(aws, Registry([spec]), _topology(), ENV)
        event = OrderPlaced(
            order_id="o-1001",
            customer_id="c-77",
            lines=[OrderLine(sku="SKU-1", quantity=2, unit_price_cents=62_500)],
            total_cents=125_000,
            currency="EUR",
            country="DE",
        )
        await publisher.publish(
            event, traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        )
        files = {
            "raw": "sqs_raw.json",
            "sns-raw": "sns_raw_delivery_in_sqs.json",
            "sns": "sns_in_sqs.json",
            "eventbridge": "eventbridge_in_sqs.json",
        }
        OUT.mkdir(exist_ok=True)
        for name, filename in files.items():
            message = await _receive(aws, urls[name])
            (OUT / filename).write_text(json.dumps(message, indent=2) + "\n")
            print(f"wrote {OUT / filename}")


def main() -> None:
    if os.environ.get("AWS_ENDPOINT_URL"):
        asyncio.run(capture(Settings.from_env()))
        return
    instance = emulator.start()
    try:
        asyncio.run(capture(Settings(endpoint_url=instance.endpoint, region=instance.region)))
    finally:
        emulator.stop(instance)


if __name__ == "__main__":
    main()
