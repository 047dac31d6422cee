"""The ministack backend: one process on loopback serving every default service, with the gaps
docs/emulator.md lists (this test fails when ministack closes one, so the page gets updated)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import AioSession
from botocore.exceptions import ClientError

from bus import emulator
from tests.test_emulator import assert_loopback_only

pytestmark = pytest.mark.aws


@pytest.fixture(scope="module")
def ministack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[emulator.EmulatorInstance]:
    instance = emulator.start(backend="ministack", state_dir=tmp_path_factory.mktemp("ministack"))
    try:
        yield instance
    finally:
        emulator.stop(instance)


@pytest.fixture
async def sqs(ministack: emulator.EmulatorInstance) -> AsyncIterator[Any]:
    async with AioSession().create_client(
        "sqs",
        endpoint_url=ministack.endpoint,
        region_name=ministack.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ) as client:
        yield client


def test_one_process_on_loopback_serves_every_default_service(
    ministack: emulator.EmulatorInstance, tmp_path: Path
) -> None:
    assert (ministack.backend, ministack.companions) == ("ministack", ())
    assert set(emulator.DEFAULT_SERVICES) <= set(ministack.services)
    assert_loopback_only(ministack)
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in ministack.env()
    assert emulator.BACKENDS[
        "ministack"
    ].gaps  # printed by `bus emulator start --backend ministack`


async def test_it_lacks_the_message_move_task_and_dead_letter_source_listing(sqs: Any) -> None:
    dlq = (await sqs.create_queue(QueueName="gaps-dlq"))["QueueUrl"]
    attrs = await sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
    arn = attrs["Attributes"]["QueueArn"]
    for call in (
        lambda: sqs.list_dead_letter_source_queues(QueueUrl=dlq),
        lambda: sqs.start_message_move_task(SourceArn=arn),
    ):
        with pytest.raises(ClientError) as refused:
            await call()
        assert refused.value.response["Error"]["Code"] == "InvalidAction"


async def test_it_accepts_an_invalid_filter_policy(ministack: emulator.EmulatorInstance) -> None:
    keys = {"region_name": ministack.region, "endpoint_url": ministack.endpoint,
            "aws_access_key_id": "test", "aws_secret_access_key": "test"}  # fmt: skip
    session = AioSession()
    async with (
        session.create_client("sns", **keys) as sns,
        session.create_client("sqs", **keys) as sqs,
    ):
        topic = (await sns.create_topic(Name="gaps-topic"))["TopicArn"]
        queue = (await sqs.create_queue(QueueName="gaps-target"))["QueueUrl"]
        attrs = await sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        invalid = json.dumps(
            {"amount": [{"numeric": [">", "not-a-number"]}]}
        )  # AWS: InvalidParameter
        answer = await sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=attrs["Attributes"]["QueueArn"],
            Attributes={"FilterPolicy": invalid},
        )
        assert answer["SubscriptionArn"].startswith(topic)
