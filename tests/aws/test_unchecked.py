"""``bus.aws.unchecked``: the worker's own SQS calls are serialised as botocore serialises them,
without its client-side check; every other call is still checked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiobotocore.session import AioSession
from botocore.exceptions import ParamValidationError

from bus.aws.encoding import install_light_serializer
from bus.aws.unchecked import OPERATIONS, skip_validation

URL = "http://127.0.0.1:1/000000000000/q"


@pytest.fixture
async def sqs() -> AsyncIterator[Any]:
    session = AioSession()
    async with session.create_client(
        "sqs",
        region_name="eu-west-1",
        endpoint_url="http://127.0.0.1:1",  # never called
        aws_access_key_id="k",
        aws_secret_access_key="s",
    ) as client:
        yield client


def _serialize(client: Any, operation: str, **params: Any) -> Any:
    model = client.meta.service_model.operation_model(operation)
    return client._serializer.serialize_to_request(params, model)


CALLS = {
    "ReceiveMessage": {
        "QueueUrl": URL,
        "MaxNumberOfMessages": 10,
        "WaitTimeSeconds": 20,
        "MessageSystemAttributeNames": ["ApproximateReceiveCount", "MessageGroupId"],
        "MessageAttributeNames": ["All"],
    },
    "DeleteMessageBatch": {
        "QueueUrl": URL,
        "Entries": [{"Id": str(i), "ReceiptHandle": f"r{i}"} for i in range(10)],
    },
    "ChangeMessageVisibilityBatch": {
        "QueueUrl": URL,
        "Entries": [{"Id": "0", "ReceiptHandle": "r", "VisibilityTimeout": 30}],
    },
}


@pytest.mark.parametrize("operation", sorted(CALLS))
async def test_the_worker_calls_serialise_as_before(sqs: Any, operation: str) -> None:
    checked = _serialize(sqs, operation, **CALLS[operation])
    assert skip_validation(sqs)
    assert _serialize(sqs, operation, **CALLS[operation]) == checked


async def test_only_the_named_operations_skip_the_check(sqs: Any) -> None:
    assert sorted(OPERATIONS) == sorted(CALLS)
    with pytest.raises(ParamValidationError):
        _serialize(sqs, "DeleteMessageBatch", QueueUrl=URL, Entries=[{"Id": 0}])
    assert skip_validation(sqs)
    unchecked = _serialize(sqs, "DeleteMessageBatch", QueueUrl=URL, Entries=[{"Id": 0}])
    assert b'"Entries": [{"Id": 0}]' in unchecked["body"]  # SQS itself would refuse it
    with pytest.raises(ParamValidationError):  # user-built parameters are still checked
        _serialize(sqs, "SendMessage", QueueUrl=URL, MessageBody=7)
    with pytest.raises(ParamValidationError):
        _serialize(sqs, "SendMessageBatch", QueueUrl=URL, Entries=[{"Id": "0"}])


def test_a_client_without_a_validating_serializer_is_left_alone() -> None:
    class Other:
        _serializer = object()

    assert not skip_validation(Other())


async def test_the_publishers_light_serializer_and_the_skipped_checks_share_one_wrapper(
    sqs: Any,
) -> None:
    """``AwsClients`` skips the worker's checks on its SQS client; the publisher's senders then
    install their light serializer on the same client: both must hold (one wrapper, not two)."""
    assert skip_validation(sqs)
    light = sqs._serializer
    assert install_light_serializer(sqs)
    assert sqs._serializer is light
    assert light.unchecked == OPERATIONS
    unchecked = _serialize(sqs, "DeleteMessageBatch", QueueUrl=URL, Entries=[{"Id": 0}])
    assert b'"Entries": [{"Id": 0}]' in unchecked["body"]
