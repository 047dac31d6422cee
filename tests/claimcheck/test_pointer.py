"""The claim check's wire format, checked against the AWS extended client's own constants."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqs_extended_client import client as extended

from bus.claimcheck.pointer import (
    LEGACY_POINTER_CLASS,
    LEGACY_SIZE_ATTRIBUTE,
    POINTER_CLASS,
    SIZE_ATTRIBUTE,
    Pointer,
    find_pointer,
    read_pointer,
)
from bus.errors import DecodeError


def test_the_names_are_the_extended_clients() -> None:
    assert extended.MESSAGE_POINTER_CLASS == POINTER_CLASS
    assert extended.LEGACY_MESSAGE_POINTER_CLASS == LEGACY_POINTER_CLASS
    assert extended.RESERVED_ATTRIBUTE_NAME == SIZE_ATTRIBUTE
    assert extended.LEGACY_RESERVED_ATTRIBUTE_NAME == LEGACY_SIZE_ATTRIBUTE


def test_the_body_is_the_extended_clients_array() -> None:
    body = Pointer("dev-payloads", "0b1f").body()
    assert json.loads(body) == [POINTER_CLASS, {"s3BucketName": "dev-payloads", "s3Key": "0b1f"}]


@given(
    bucket=st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True),
    key=st.text(min_size=1, max_size=200),
)
def test_a_pointer_reads_back(bucket: str, key: str) -> None:
    pointer = Pointer(bucket, key)
    assert read_pointer(pointer.body()) == pointer


def test_the_legacy_class_is_read() -> None:
    body = json.dumps([LEGACY_POINTER_CLASS, {"s3BucketName": "b-1", "s3Key": "k"}])
    assert read_pointer(body) == Pointer("b-1", "k")


@pytest.mark.parametrize(
    "body",
    [
        '{"specversion": "1.0"}',
        '["something", {"s3BucketName": "b", "s3Key": "k"}]',
        "[1, 2]",
        "not json [software.amazon.payloadoffloading.PayloadS3Pointer",
    ],
)
def test_other_bodies_are_no_pointer(body: str) -> None:
    assert read_pointer(body) is None
    assert find_pointer(body, {}) is None


@pytest.mark.parametrize(
    "details", [{}, {"s3BucketName": "b"}, {"s3Key": "k"}, {"s3BucketName": "", "s3Key": "k"}]
)
def test_a_pointer_without_bucket_or_key_is_a_decode_error(details: dict[str, str]) -> None:
    with pytest.raises(DecodeError, match="s3BucketName and an s3Key"):
        read_pointer(json.dumps([POINTER_CLASS, details]), "m-1")


def test_a_raw_pointer_is_found_and_its_size_attribute_dropped() -> None:
    attributes = {
        SIZE_ATTRIBUTE: {"DataType": "Number", "StringValue": "300000"},
        "event_type": {"DataType": "String", "StringValue": "Blob"},
    }
    found = find_pointer(Pointer("b-1", "k").body(), attributes)
    assert found is not None
    assert (found.pointer, found.route) == (Pointer("b-1", "k"), "sqs")
    assert set(found.attributes) == {"event_type"}


def test_a_pointer_inside_an_sns_notification_is_found_with_its_attributes() -> None:
    notification = {
        "Type": "Notification",
        "MessageId": "n-1",
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:blobs",
        "Message": Pointer("b-1", "k").body(),
        "MessageAttributes": {
            SIZE_ATTRIBUTE: {"Type": "Number", "Value": "300000"},
            "event_type": {"Type": "String", "Value": "Blob"},
        },
    }
    found = find_pointer(json.dumps(notification), {})
    assert found is not None
    assert (found.pointer, found.route) == (Pointer("b-1", "k"), "sns")
    assert found.attributes == {"event_type": {"Type": "String", "Value": "Blob"}}


def test_a_large_body_is_not_looked_into() -> None:
    body = json.dumps({"specversion": "1.0", "data": {"x": "PayloadS3Pointer" * 1000}})
    assert find_pointer(body, {}) is None
