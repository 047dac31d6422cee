"""SQS event records and ReceiveMessage answers convert both ways without losing what the
pipeline reads (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bus.aws_lambda import event_of, received_of, record_of
from bus.aws_lambda.records import queue_of_arn, sqs_records
from bus.envelope import decode
from bus.errors import ConfigError, DecodeError

ARN = "arn:aws:sqs:eu-west-1:123456789012:dev-orders"
MESSAGE = {
    "MessageId": "m-1",
    "ReceiptHandle": "rh-1",
    "Body": '{"hello": "world"}',
    "MD5OfBody": "x",
    "Attributes": {"ApproximateReceiveCount": "3", "MessageGroupId": "g", "SequenceNumber": "17"},
    "MessageAttributes": {
        "event_type": {"DataType": "String", "StringValue": "OrderPlaced"},
        "event_version": {"DataType": "Number", "StringValue": "1"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xffbytes"},
    },
}


def test_a_record_has_the_shape_the_mapping_delivers() -> None:
    record = record_of(MESSAGE, ARN, "eu-west-1")
    assert record["messageId"] == "m-1"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == ARN
    assert record["awsRegion"] == "eu-west-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "3"
    assert record["messageAttributes"]["event_type"] == {
        "stringValue": "OrderPlaced",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["blob"]["binaryValue"] == "AP9ieXRlcw=="
    json.dumps(record)  # plain JSON, as Lambda passes it
    assert event_of([MESSAGE, MESSAGE], ARN, "eu-west-1")["Records"][1] == record


def test_a_record_reads_back_as_the_message_the_worker_would_have_received() -> None:
    msg = received_of(record_of(MESSAGE, ARN, "eu-west-1"))
    assert (msg.message_id, msg.receipt_handle, msg.body) == ("m-1", "rh-1", MESSAGE["Body"])
    assert (msg.receive_count, msg.group_id, msg.sequence_number) == (3, "g", 17)
    assert msg.attributes == MESSAGE["MessageAttributes"]
    assert msg.string_attribute("event_type") == "OrderPlaced"
    assert queue_of_arn(ARN) == "dev-orders"


def test_the_sample_lambda_event_decodes_like_its_sqs_twin() -> None:
    events = Path(__file__).resolve().parents[1] / "events"
    raw = json.loads((events / "sqs_raw.json").read_text())
    message = raw["Messages"][0] if "Messages" in raw else raw
    msg = received_of(record_of(message, ARN, "eu-west-1"))
    direct = decode(message["Body"], message.get("MessageAttributes") or {}, message_id="m")
    assert decode(msg.body, msg.attributes, message_id="m").envelope == direct.envelope


def test_a_binary_value_that_is_not_base64_is_a_decode_error() -> None:
    record = record_of(MESSAGE, ARN, "eu-west-1")
    record["messageAttributes"]["blob"]["binaryValue"] = "not base64!"
    with pytest.raises(DecodeError, match=r"messageAttributes\.blob"):
        received_of(record)


def test_an_event_that_is_not_an_sqs_batch_is_refused_saying_why() -> None:
    good = record_of(MESSAGE, ARN, "eu-west-1")
    assert sqs_records({"Records": [good]}) == [good]
    assert sqs_records({"Records": []}) == []
    refused = {
        "no Records": ({}, 'not an SQS event: it has no "Records" list (keys [])'),
        "a list": ([], "not an SQS event: it has no \"Records\" list (<class 'list'>)"),
        "None": (None, "not an SQS event: it has no \"Records\" list (<class 'NoneType'>)"),
        "Records text": ({"Records": "x", "a": 1}, "(keys ['Records', 'a'])"),
        "API Gateway": ({"Records": [{"eventSource": "aws:s3"}]}, "record 0 is not an SQS record"),
        "a string record": ({"Records": [good, "m"]}, "record 1 is not an SQS record"),
        "no receipt": (
            {"Records": [{**good, "receiptHandle": None}]},
            "record 0 (messageId 'm-1') is not an SQS record: receiptHandle missing",
        ),
        "no queue": (
            {"Records": [{k: v for k, v in good.items() if k != "eventSourceARN"}]},
            "eventSourceARN missing or of the wrong type",
        ),
        "attributes": ({"Records": [{**good, "attributes": []}]}, "attributes missing"),
    }
    for name, (event, message) in refused.items():
        with pytest.raises(ConfigError) as error:
            sqs_records(event)
        assert message in str(error.value), name
