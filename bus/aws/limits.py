"""AWS's size limits on what bus sends, in one table (bytes; checked 2026-12-02).

Publish (``bus.publish.prepare``), the worker's dead-letter copies (``bus.worker.deadletter``), the
DLQ tools' redrive and replay (``bus.dlq.send``) and the claim check (``bus.claimcheck``: what does
not fit goes through S3) all read them here.

- **SQS**: a message (body plus each message attribute's name, data type and value) up to
  1 MiB (1,048,576 bytes) since 2025, and a ``SendMessageBatch`` call's entries together up to the
  same 1 MiB: "The maximum allowed individual message size and the maximum total payload size (the
  sum of the individual lengths of all of the batched messages) are both 1 MiB" (SendMessageBatch,
  Amazon SQS API Reference). A queue's ``MaximumMessageSize`` attribute can lower the limit for that
  queue (1,024 bytes up to 1 MiB); what one queue accepts is that attribute, read from the queue.
  At most 10 entries per batch call and 10 message attributes per message.
- **SNS**: "Amazon SNS supports message payloads up to 1 MiB (1,048,576 bytes) when you configure
  the ``MaximumMessageSize`` topic attribute. By default, topics accept messages up to 256 KiB"
  (https://docs.aws.amazon.com/sns/latest/dg/large-message-payloads.html); body plus attributes
  count. ``PublishBatch``: 10 entries; bus's topics keep the default, so bus publishes up to
  256 KiB to a topic.
- **EventBridge**: "AWS has raised the maximum payload size from 256 KB to 1 MB for asynchronous
  AWS Lambda function invocations, Amazon SQS, and Amazon EventBridge" (AWS Compute Blog, "More
  room to build: serverless services now support payloads up to 1 MB", 2026-01-29). A
  ``PutEvents`` entry's size is counted as "Calculating PutEvents event entry size" (EventBridge
  User Guide) says: ``Time`` 14 bytes, then the UTF-8 bytes of ``Source``, ``DetailType``,
  ``Detail`` and each of ``Resources``; at most 10 entries per call. The API reference page of
  ``PutEvents`` still says 256 KB, and LocalStack 4.13.1 (the embedded emulator) refuses a
  ``Detail`` of 256 KiB or more, so bus keeps 256 KiB for EventBridge until the reference agrees:
  ``EVENTBRIDGE_ENTRY_BYTES``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

KIB = 1024
MIB = 1024 * KIB

SQS_MESSAGE_BYTES = MIB
"""The largest message any SQS queue accepts (a queue's ``MaximumMessageSize`` may be lower)."""
SQS_BATCH_BYTES = MIB
"""``SendMessageBatch``: the sum of its entries' sizes."""
SQS_DEFAULT_QUEUE_BYTES = 256 * KIB
"""bus's topology default for a queue's ``MaximumMessageSize``."""
SNS_MESSAGE_BYTES = 256 * KIB
"""A topic's default ``MaximumMessageSize`` (bus's topics keep it); also ``PublishBatch``'s total."""
SNS_MAX_MESSAGE_BYTES = MIB
"""The most a topic can be configured to accept."""
EVENTBRIDGE_ENTRY_BYTES = 256 * KIB
"""One ``PutEvents`` entry, and a call's entries together (see the module docstring)."""
EVENTBRIDGE_TIME_BYTES = 14
"""What a ``PutEvents`` entry's ``Time`` counts for."""
BATCH_ENTRIES = 10
"""SQS ``SendMessageBatch``/``DeleteMessageBatch``/..., SNS ``PublishBatch``, ``PutEvents``."""
MESSAGE_ATTRIBUTES = 10
"""Message attributes per SQS message or SNS publish."""


_BINARY = (bytes, bytearray, memoryview)


def _bytes(value: object) -> int:
    if isinstance(value, _BINARY):
        return len(value)
    return len(str(value).encode("utf-8", "surrogatepass"))


def message_size(body: str | bytes, attributes: Mapping[str, Mapping[str, Any]] | None) -> int:
    """The size SQS and SNS count against their limits: the body's UTF-8 bytes, plus each message
    attribute's name, data type and value (a string value's UTF-8 bytes; a binary value's bytes,
    or, given as text, its UTF-8 bytes: what botocore sends for it). One rule for the publisher,
    the DLQ tools and the in-memory AWS (which sizes every routed message with it: hence no call
    per attribute)."""
    size = len(body) if type(body) is str and body.isascii() else _bytes(body)
    if not attributes:
        return size
    for name, value in attributes.items():
        raw = value.get("BinaryValue")
        if raw is None:
            text = f"{name}{value.get('DataType', '')}{value.get('StringValue', '')}"
        else:
            size += len(raw) if isinstance(raw, _BINARY) else _bytes(raw)
            text = f"{name}{value.get('DataType', '')}"
        size += len(text) if text.isascii() else _bytes(text)
    return size


SQS_INVALID_TEXT = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""A character SQS refuses in a body or an attribute value (``InvalidMessageContents``): it takes
XML 1.0's characters only (#x9, #xA, #xD, #x20 to #xD7FF, #xE000 to #xFFFD, #x10000 to #x10FFFF)."""
