"""The claim check's wire format (pure): the AWS extended clients' S3 pointer.

A claim-checked message's body is a JSON array naming the pointer class and the object, and the
message carries a reserved ``Number`` attribute with the payload's size in bytes::

    ["software.amazon.payloadoffloading.PayloadS3Pointer",
     {"s3BucketName": "dev-shop-payloads", "s3Key": "5d0f...-..."}]
    ExtendedPayloadSize = 1048576

This is what awslabs' ``amazon-sqs-extended-client`` (Python; ``sqs_extended_client/client.py``)
and the Java ``amazon-sqs-java-extended-client-lib`` / ``amazon-sns-java-extended-client-lib``
write and read. Their older form, ``com.amazon.sqs.javamessaging.MessageS3Pointer`` with the
attribute ``SQSLargePayloadSize``, is read too. bus writes the current form.

Through SNS without raw message delivery the pointer is the notification's ``Message`` and the
attribute travels in its ``MessageAttributes``; ``find_pointer`` looks in both places.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bus.errors import DecodeError

POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
LEGACY_POINTER_CLASS = "com.amazon.sqs.javamessaging.MessageS3Pointer"
POINTER_CLASSES = (POINTER_CLASS, LEGACY_POINTER_CLASS)
SIZE_ATTRIBUTE = "ExtendedPayloadSize"
LEGACY_SIZE_ATTRIBUTE = "SQSLargePayloadSize"
SIZE_ATTRIBUTES = (SIZE_ATTRIBUTE, LEGACY_SIZE_ATTRIBUTE)
MAX_POINTER_BYTES = 4096
"""A pointer (or an SNS notification carrying one) is small: larger bodies are not looked into."""
_MARKERS = ("PayloadS3Pointer", "MessageS3Pointer")


@dataclass(frozen=True)
class Pointer:
    """Where a claim-checked payload is: ``s3://bucket/key``."""

    bucket: str
    key: str

    def body(self) -> str:
        """The message body that points here (the extended clients' form)."""
        return json.dumps([POINTER_CLASS, {"s3BucketName": self.bucket, "s3Key": self.key}])

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Found:
    """A pointer found in a message: where the payload is, how it came (``sns``: inside an SNS
    notification) and the attributes to decode the payload with (the reserved one removed)."""

    pointer: Pointer
    route: str
    attributes: Mapping[str, Any]


def size_attribute(size: int) -> dict[str, str]:
    """The reserved attribute's value for a payload of ``size`` bytes."""
    return {"DataType": "Number", "StringValue": str(size)}


def read_pointer(text: str, message_id: str | None = None) -> Pointer | None:
    """The pointer ``text`` is, or ``None`` when it is no pointer; ``DecodeError`` for an array
    that names a pointer class but not a bucket and a key."""
    head = text.lstrip()[:80]
    if not head.startswith("[") or not any(c in head for c in POINTER_CLASSES):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not (isinstance(value, list) and value and value[0] in POINTER_CLASSES):
        return None
    details = value[1] if len(value) == 2 else None
    bucket = details.get("s3BucketName") if isinstance(details, dict) else None
    key = details.get("s3Key") if isinstance(details, dict) else None
    if not (isinstance(bucket, str) and bucket and isinstance(key, str) and key):
        raise DecodeError(
            f"claim-check pointer {text[:200]!r} does not name an s3BucketName and an s3Key",
            message_id=message_id,
        )
    return Pointer(bucket, key)


def find_pointer(
    body: str, attributes: Mapping[str, Any], message_id: str | None = None
) -> Found | None:
    """The pointer a received message carries (raw, or as an SNS notification's ``Message``);
    ``None`` for an ordinary message. Cheap for ordinary messages: only small bodies that name a
    pointer class are parsed."""
    if len(body) > MAX_POINTER_BYTES or not any(m in body for m in _MARKERS):
        return None
    pointer = read_pointer(body, message_id)
    if pointer is not None:
        return Found(pointer, "sqs", _without_size(attributes))
    try:
        notification = json.loads(body)
    except ValueError:
        return None
    if not isinstance(notification, dict) or notification.get("Type") != "Notification":
        return None
    message = notification.get("Message")
    pointer = read_pointer(message, message_id) if isinstance(message, str) else None
    if pointer is None:
        return None
    inner = notification.get("MessageAttributes")
    merged = {**attributes, **(inner if isinstance(inner, Mapping) else {})}
    return Found(pointer, "sns", _without_size(merged))


def _without_size(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if k not in SIZE_ATTRIBUTES}
