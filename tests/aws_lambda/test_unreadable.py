"""A record the entry point cannot read is reported failed; on a FIFO queue the rest of its group
waits behind it (in-memory AWS: bus's own control flow)."""

from __future__ import annotations

import uuid
from pathlib import Path

from bus.aws_lambda import LambdaConsumer, event_of
from bus.memory import MemoryAws
from bus.publish import Publisher
from bus.schema import Registry
from bus.topology.apply import converge
from bus.topology.load import load_topology
from bus.worker import Worker, WorkerOptions, WorkerParts
from tests.worker import apps

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = """
name: lamread
queues:
  read.fifo: {fifo: true, visibility_timeout: 30}
events:
  GroupPing:
    model: tests.worker.apps:GroupPing
    publish_to: [{queue: read.fifo}]
    message_group_id: group
handlers:
  read.fifo:
    events: {GroupPing: "tests.worker.apps:record"}
"""


async def test_an_unreadable_fifo_record_holds_its_group_back(tmp_path: Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(TOPOLOGY)
    topology = load_topology(path)
    g, h = "g" + uuid.uuid4().hex[:8], "h" + uuid.uuid4().hex[:8]
    async with MemoryAws() as aws:
        await converge(aws, topology, "t")
        registry = Registry.from_topology(topology, ROOT)
        publisher = Publisher(aws, registry, topology, "t")
        for event in (
            apps.GroupPing(key=f"{g}-1", group=g),
            apps.GroupPing(key=f"{g}-2", group=g),
            apps.GroupPing(key=f"{h}-1", group=h),
        ):
            await publisher.publish(event)
        url = (await aws.sqs.get_queue_url(QueueName="t-read.fifo"))["QueueUrl"]
        got = await aws.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        messages = got["Messages"]
        assert len(messages) == 3
        event = event_of(messages, "arn:aws:sqs:us-east-1:000000000000:t-read.fifo", "us-east-1")
        first = event["Records"][0]
        first["messageAttributes"]["blob"] = {"binaryValue": "not base64!", "dataType": "Binary"}
        worker = Worker(aws, topology, env="t", base_dir=ROOT, options=WorkerOptions(queues=("read.fifo",)),
                        parts=WorkerParts(registry=registry))  # fmt: skip
        consumer = await LambdaConsumer.open(worker, "read.fifo")
        response = await consumer.handle(event, None)
    ids = [m["MessageId"] for m in messages]
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == ids[:2]
    assert apps.STARTS.get(f"{g}-1") is None
    assert apps.STARTS.get(f"{g}-2") is None
    assert len(apps.calls(f"{h}-1")) == 1
