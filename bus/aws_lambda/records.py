"""SQS records as a Lambda event source mapping delivers them, and back: pure conversions.

An SQS event (AWS docs, "Using Lambda with Amazon SQS")::

    {"Records": [{"messageId", "receiptHandle", "body", "md5OfBody", "md5OfMessageAttributes",
                  "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "...",
                                 "MessageGroupId": ..., ...},
                  "messageAttributes": {name: {"stringValue", "binaryValue" (base64 text),
                                               "stringListValues", "binaryListValues",
                                               "dataType"}},
                  "eventSource": "aws:sqs", "eventSourceARN", "awsRegion"}, ...]}

The system attributes have ReceiveMessage's names and values; the message attributes do not:
their keys start in lower case and a binary value is base64 text, not bytes. ``received_of``
turns a record into the worker's ``Received`` (ReceiveMessage's shapes), so that the one pipeline
reads both; ``record_of`` builds a record from a ReceiveMessage answer, as the mapping would
(``bus lambda invoke``, tests).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from bus.clock import monotonic
from bus.errors import ConfigError, DecodeError
from bus.worker.message import Received

EVENT_SOURCE = "aws:sqs"
_TEXT_KEYS = ("messageId", "receiptHandle", "body", "eventSourceARN")


def sqs_records(event: Any) -> list[Mapping[str, Any]]:
    """The records of an SQS event; ``ConfigError`` saying what is wrong when ``event`` is not
    one (another trigger, a hand-written test event). Raised before any record is handled, it
    fails the invocation: a mapping then gives the whole batch back, so nothing is lost."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        got = f"keys {sorted(map(str, event))[:8]}" if isinstance(event, Mapping) else type(event)
        raise ConfigError(
            f'not an SQS event: it has no "Records" list ({got}); the entry point takes the '
            "events of an SQS event source mapping"
        )
    for n, record in enumerate(records):  # JSON objects: plain type checks (a hot path)
        if type(record) is not dict or record.get("eventSource") != EVENT_SOURCE:
            source = record.get("eventSource") if isinstance(record, dict) else type(record)
            raise ConfigError(f"record {n} is not an SQS record (eventSource {source!r})")
        get = record.get
        if not (
            type(get("messageId")) is str
            and type(get("receiptHandle")) is str
            and type(get("body")) is str
            and type(get("eventSourceARN")) is str
            and type(get("attributes", _NONE)) is dict
            and type(get("messageAttributes", _NONE)) is dict
        ):
            raise ConfigError(
                f"record {n} (messageId {get('messageId')!r}) is not an SQS record: "
                f"{', '.join(_wrong(record))} missing or of the wrong type"
            )
    return records


_NONE: dict[str, Any] = {}
"""An absent ``attributes`` or ``messageAttributes`` reads as empty."""


def _wrong(record: dict[str, Any]) -> list[str]:
    """The keys of ``record`` that are not what an SQS record holds."""
    wrong = [key for key in _TEXT_KEYS if type(record.get(key)) is not str]
    return wrong + [
        key
        for key in ("attributes", "messageAttributes")
        if type(record.get(key, _NONE)) is not dict
    ]


def queue_arn(region: str, account: str, queue: str, partition: str = "aws") -> str:
    return f"arn:{partition}:sqs:{region}:{account}:{queue}"


def queue_of_arn(arn: str) -> str:
    """The queue name an SQS ARN ends with (``arn:aws:sqs:region:account:name``)."""
    return arn.rsplit(":", 1)[-1]


def _binary(value: Any, where: str) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"{where}: binaryValue is not base64") from exc


def sqs_attributes(attributes: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """A record's ``messageAttributes`` in ReceiveMessage's shape (``DataType``, ``StringValue``,
    ``BinaryValue`` as bytes); entries that are not objects are left out."""
    out: dict[str, dict[str, Any]] = {}
    for name, attr in (attributes or {}).items():
        if not isinstance(attr, Mapping):
            continue
        entry: dict[str, Any] = {"DataType": str(attr.get("dataType") or "String")}
        if attr.get("stringValue") is not None:
            entry["StringValue"] = str(attr["stringValue"])
        if attr.get("binaryValue") is not None:
            entry["BinaryValue"] = _binary(attr["binaryValue"], f"messageAttributes.{name}")
        if attr.get("stringListValues"):
            entry["StringListValues"] = [str(v) for v in attr["stringListValues"]]
        if attr.get("binaryListValues"):
            where = f"messageAttributes.{name}"
            entry["BinaryListValues"] = [_binary(v, where) for v in attr["binaryListValues"]]
        out[str(name)] = entry
    return out


def lambda_attributes(attributes: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """ReceiveMessage's ``MessageAttributes`` as an SQS event carries them."""
    out: dict[str, dict[str, Any]] = {}
    for name, attr in (attributes or {}).items():
        entry: dict[str, Any] = {
            "stringListValues": list(attr.get("StringListValues") or []),
            "binaryListValues": [
                base64.b64encode(v).decode("ascii") for v in attr.get("BinaryListValues") or []
            ],
            "dataType": attr.get("DataType", "String"),
        }
        if attr.get("StringValue") is not None:
            entry["stringValue"] = attr["StringValue"]
        if attr.get("BinaryValue") is not None:
            entry["binaryValue"] = base64.b64encode(attr["BinaryValue"]).decode("ascii")
        out[str(name)] = entry
    return out


def record_of(message: Mapping[str, Any], arn: str, region: str) -> dict[str, Any]:
    """One SQS event record for a message ReceiveMessage returned (asked for ``All`` system and
    message attributes), from the queue ``arn``."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {str(k): str(v) for k, v in (message.get("Attributes") or {}).items()},
        "messageAttributes": lambda_attributes(message.get("MessageAttributes")),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": EVENT_SOURCE,
        "eventSourceARN": arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def event_of(messages: Sequence[Mapping[str, Any]], arn: str, region: str) -> dict[str, Any]:
    """The SQS event a mapping would deliver for ``messages`` (in their order)."""
    return {"Records": [record_of(m, arn, region) for m in messages]}


def received_of(record: Mapping[str, Any], received_at: float | None = None) -> Received:
    """The worker's view of one record (a ``DecodeError`` when a binary attribute is not base64:
    the caller reports the record failed)."""
    return Received(
        message_id=str(record.get("messageId", "")),
        receipt_handle=str(record.get("receiptHandle", "")),
        body=str(record.get("body", "")),
        attributes=sqs_attributes(record.get("messageAttributes")),
        system={str(k): str(v) for k, v in (record.get("attributes") or {}).items()},
        received_at=monotonic() if received_at is None else received_at,
    )
