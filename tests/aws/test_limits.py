from __future__ import annotations

from bus.aws import limits


def test_the_table_says_what_aws_documents() -> None:
    assert limits.SQS_MESSAGE_BYTES == limits.SQS_BATCH_BYTES == 1_048_576
    assert limits.SNS_MESSAGE_BYTES == 262_144
    assert limits.SNS_MAX_MESSAGE_BYTES == 1_048_576
    assert limits.BATCH_ENTRIES == limits.MESSAGE_ATTRIBUTES == 10


def test_message_size_counts_body_and_each_attribute() -> None:
    attributes = {
        "event_type": {"DataType": "String", "StringValue": "é"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    expected = len("body") + len("event_type") + len("String") + 2 + len("blob") + len("Binary") + 2
    assert limits.message_size("body", attributes) == expected
    assert limits.message_size("\ud800", None) == 3  # a lone surrogate is counted, not an error


def test_a_binary_value_counts_the_bytes_botocore_sends_for_it() -> None:
    """Bytes (what a receive gives), a bytearray or memoryview: their length; text: its UTF-8
    bytes, as botocore encodes a ``str`` blob (the in-memory AWS sizes messages by this rule too).
    """
    three = b"\x00\x01\x02"
    for given in (three, bytearray(three), memoryview(three), "a\u00e9"):
        attributes = {"blob": {"DataType": "Binary", "BinaryValue": given}}
        assert limits.message_size("", attributes) == len("blob") + len("Binary") + 3
