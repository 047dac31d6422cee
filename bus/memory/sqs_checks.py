"""SQS's validation of queue attributes, message bodies and message attributes (AWS's messages)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bus.aws.limits import SQS_INVALID_TEXT, message_size
from bus.memory.errors import client_error, invalid
from bus.memory.queue import Queue

if TYPE_CHECKING:
    from bus.memory.sqs_queues import QueueStore

MAX_ATTRIBUTES = 10
_RANGES: dict[str, tuple[int, int]] = {
    "VisibilityTimeout": (0, 43200),
    "DelaySeconds": (0, 900),
    "MessageRetentionPeriod": (60, 1209600),
    "MaximumMessageSize": (1024, 1048576),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "KmsDataKeyReusePeriodSeconds": (60, 86400),
}
_FIFO_ONLY = ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
_OTHER = frozenset({"Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId",
                    "SqsManagedSseEnabled", "FifoQueue"})  # fmt: skip


def check_queue_attributes(
    sqs: QueueStore, op: str, attributes: Mapping[str, str], fifo: bool, *, creating: bool = True
) -> None:
    for name, value in attributes.items():
        if name not in _RANGES and name not in _FIFO_ONLY and name not in _OTHER:
            raise client_error(op, "InvalidAttributeName", f"Unknown Attribute {name}.")
        if name in _FIFO_ONLY and not fifo:
            raise client_error(op, "InvalidAttributeName", f"Unknown Attribute {name}.")
        if name == "FifoQueue" and not creating:
            raise invalid(op, "Invalid value for the parameter FifoQueue. Reason: Modifying "
                              "queue type is not supported.")  # fmt: skip
        if name in _RANGES:
            low, high = _RANGES[name]
            if not value.lstrip("-").isdigit() or not low <= int(value) <= high:
                raise invalid(op, f"Invalid value for the parameter {name}.")
        if name == "RedrivePolicy" and value:
            _check_redrive(sqs, op, value, fifo)


def _check_redrive(sqs: QueueStore, op: str, value: str, fifo: bool) -> None:
    try:
        policy = json.loads(value)
        target, count = str(policy["deadLetterTargetArn"]), int(policy["maxReceiveCount"])
    except (ValueError, KeyError, TypeError):
        raise invalid(op, "Invalid value for the parameter RedrivePolicy. Reason: Redrive "
                          "policy is not a valid JSON map.") from None  # fmt: skip
    if not 1 <= count <= 1000:
        raise invalid(op, "Invalid value for the parameter RedrivePolicy. Reason: Invalid value "
                          f"for maxReceiveCount: {count}, valid values are from 1 to 1000 both "
                          "inclusive.")  # fmt: skip
    dlq = sqs.by_arn(target)
    if dlq is None:
        raise invalid(op, "Value for parameter RedrivePolicy is invalid. Reason: Dead letter "
                          f"target does not exist: {target}")  # fmt: skip
    if dlq.fifo != fifo:
        raise invalid(op, "Value for parameter RedrivePolicy is invalid. Reason: Dead-letter "
                          "queue must be same type of queue as the source.")  # fmt: skip


INVALID_CHARACTERS = (
    "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | "
    "#xE000 to #xFFFD | #x10000 to #x10FFFF"
)
"""What SQS says of a body or a String/Number attribute value holding a character it refuses."""


def check_send(
    op: str, queue: Queue, body: str, attributes: Mapping[str, Any], entry: Mapping[str, Any]
) -> None:
    """AWS's refusals of one message: body, attributes, size, delay and FIFO parameters."""
    if not body:
        raise client_error(op, "MissingParameter",
                           "The request must contain the parameter MessageBody.")  # fmt: skip
    if SQS_INVALID_TEXT.search(body):
        raise client_error(op, "InvalidMessageContents", INVALID_CHARACTERS)
    _check_attributes(op, attributes)
    limit = queue.number("MaximumMessageSize")
    if message_size(body, attributes) > limit:
        raise invalid(op, "One or more parameters are invalid. Reason: Message must be shorter "
                          f"than {limit} bytes.")  # fmt: skip
    delay = entry.get("DelaySeconds")
    if delay is not None and (queue.fifo or not 0 <= int(delay) <= 900):
        reason = ("The request include parameter that is not valid for this queue type."
                  if queue.fifo else "Must be >= 0 and <= 900, if provided.")  # fmt: skip
        raise invalid(op, f"Value {delay} for parameter DelaySeconds is invalid. Reason: {reason}")
    if queue.fifo:
        if not entry.get("MessageGroupId"):
            raise client_error(op, "MissingParameter",
                               "The request must contain the parameter MessageGroupId.")  # fmt: skip
        if not entry.get("MessageDeduplicationId") and (
            queue.attributes.get("ContentBasedDeduplication") != "true"
        ):
            raise invalid(op, "The queue should either have ContentBasedDeduplication enabled or "
                              "MessageDeduplicationId provided explicitly")  # fmt: skip
    elif entry.get("MessageDeduplicationId"):
        raise invalid(op, "Value for parameter MessageDeduplicationId is invalid. Reason: The "
                          "request include parameter that is not valid for this queue type.")  # fmt: skip


def _check_attributes(op: str, attributes: Mapping[str, Any]) -> None:
    if len(attributes) > MAX_ATTRIBUTES:
        raise invalid(op, f"Number of message attributes [{len(attributes)}] exceeds the allowed "
                          f"maximum [{MAX_ATTRIBUTES}].")  # fmt: skip
    for name, value in attributes.items():
        data_type = str(value.get("DataType", ""))
        base = data_type.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise invalid(op, f"The type of message (user) attribute '{name}' is invalid. You must "
                              "use only the following supported type prefixes: Binary, Number, "
                              "String.")  # fmt: skip
        field = "BinaryValue" if base == "Binary" else "StringValue"
        if value.get(field) in (None, "", b""):
            raise invalid(op, f"Message (user) attribute '{name}' must contain a non-empty value "
                              f"of type '{base}'.")  # fmt: skip
        if base != "Binary" and SQS_INVALID_TEXT.search(str(value[field])):
            raise invalid(op, INVALID_CHARACTERS)  # a value: InvalidParameterValue, not Contents
        if base == "Number":
            try:
                float(str(value["StringValue"]))
            except ValueError:
                raise invalid(op, f"Can't cast the value of message (user) attribute '{name}' to "
                                  "a number.") from None  # fmt: skip


def select_attributes(attributes: Mapping[str, Any], wanted: list[str]) -> dict[str, Any]:
    """The message attributes a receive asked for: ``All``/``.*``, names, or ``prefix.*``."""
    if "All" in wanted or ".*" in wanted:
        return {k: _answer(v) for k, v in attributes.items()}
    prefixes = tuple(w[:-1] for w in wanted if w.endswith(".*"))
    names = set(wanted)
    return {
        k: _answer(v)
        for k, v in attributes.items()
        if k in names or (prefixes and k.startswith(prefixes))
    }


def _answer(value: Mapping[str, Any]) -> dict[str, Any]:
    """An attribute as ReceiveMessage answers it (type and value; no empty list fields; a binary
    value as bytes, a text one as the UTF-8 bytes botocore would have sent for it)."""
    out = {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
    raw = out.get("BinaryValue")
    if raw is not None and type(raw) is not bytes:
        out["BinaryValue"] = raw.encode() if isinstance(raw, str) else bytes(raw)
    return out
