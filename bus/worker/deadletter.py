"""Dead letters: what a worker sends to a queue's DLQ when it gives up on a message.

Send first, delete after: the worker deletes the source message only once the DLQ has accepted the
copy (see ``docs/envelope.md``, "Dead letters"). The copy has the original body, the original
``event_type``/``event_version`` attributes (then the other original attributes, as many as fit in
SQS's ten), the FIFO group id, and ``bus.failure``: a JSON record of why the message died.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from bus.worker.message import FAILURE_ATTRIBUTE, Received

Reason = Literal[
    "decode-error", "validation-error", "unknown-event", "no-handler", "rejected", "handler-error"
]
REASONS: tuple[Reason, ...] = (
    "decode-error",
    "validation-error",
    "unknown-event",
    "no-handler",
    "rejected",
    "handler-error",
)
MAX_ERROR_CHARS = 1000
MAX_ATTRIBUTES = 10
FIRST_ATTRIBUTES = ("event_type", "event_version")


@dataclass(frozen=True)
class Failure:
    """The ``bus.failure`` attribute of a dead letter."""

    reason: str
    error_type: str
    error: str
    attempt: int
    queue: str
    message_id: str
    first_failed_at: str
    failed_at: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Failure:
        data = json.loads(text)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error_type_name(error: BaseException) -> str:
    kind = type(error)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def error_text(error: BaseException) -> str:
    text = str(error) or repr(error)
    return text[:MAX_ERROR_CHARS]


def previous_failure(message: Received) -> Failure | None:
    """The ``bus.failure`` a redriven message still carries from its earlier death, if any."""
    text = message.string_attribute(FAILURE_ATTRIBUTE)
    if not text:
        return None
    try:
        return Failure.from_json(text)
    except (ValueError, KeyError, TypeError):
        return None


def first_failed_at(message: Received, now: datetime) -> str:
    """Kept across redrives; for a message that failed on earlier receives, its first receive."""
    earlier = previous_failure(message)
    if earlier is not None:
        return earlier.first_failed_at
    first_ms = message.first_received_ms
    if message.receive_count > 1 and first_ms is not None:
        return utc_iso(datetime.fromtimestamp(first_ms / 1000, UTC))
    return utc_iso(now)


def failure_of(
    message: Received, reason: Reason, error: BaseException, queue: str, now: datetime
) -> Failure:
    return Failure(
        reason=reason,
        error_type=error_type_name(error),
        error=error_text(error),
        attempt=message.receive_count,
        queue=queue,
        message_id=message.message_id,
        first_failed_at=first_failed_at(message, now),
        failed_at=utc_iso(now),
    )


def _clean(value: Mapping[str, Any]) -> dict[str, Any] | None:
    data_type = value.get("DataType")
    if not data_type:
        return None
    out: dict[str, Any] = {"DataType": data_type}
    if value.get("StringValue") is not None:
        out["StringValue"] = value["StringValue"]
    elif value.get("BinaryValue") is not None:
        out["BinaryValue"] = value["BinaryValue"]
    else:
        return None
    return out


def dead_letter_attributes(
    message: Received, failure: Failure, event_type: str | None, event_version: int | None
) -> dict[str, Any]:
    """The original attributes (routing keys first, at most nine) plus ``bus.failure``."""
    kept: dict[str, Any] = {}
    for name, value in message.attributes.items():
        cleaned = _clean(value) if isinstance(value, Mapping) else None
        if name != FAILURE_ATTRIBUTE and cleaned is not None:
            kept[name] = cleaned
    if "event_type" not in kept and event_type:
        kept["event_type"] = {"DataType": "String", "StringValue": event_type}
    if "event_version" not in kept and event_version is not None:
        kept["event_version"] = {"DataType": "Number", "StringValue": str(event_version)}
    order = [n for n in FIRST_ATTRIBUTES if n in kept] + sorted(
        n for n in kept if n not in FIRST_ATTRIBUTES
    )
    out = {n: kept[n] for n in order[: MAX_ATTRIBUTES - 1]}
    out[FAILURE_ATTRIBUTE] = {"DataType": "String", "StringValue": failure.to_json()}
    return out


def dead_letter_entry(
    message: Received,
    failure: Failure,
    *,
    fifo: bool,
    event_type: str | None = None,
    event_version: int | None = None,
) -> dict[str, Any]:
    """SendMessage arguments for the DLQ copy of ``message``.

    On FIFO DLQs the group id is the original's; the deduplication id is the *source message id*,
    unique per delivered message, so a message that dies twice within SQS's five-minute
    deduplication window (redriven and failing again) is never dropped as a duplicate, while a
    worker that sends the same dead letter twice (it crashed between send and delete) is.
    """
    entry: dict[str, Any] = {
        "MessageBody": message.body,
        "MessageAttributes": dead_letter_attributes(message, failure, event_type, event_version),
    }
    if fifo:
        entry["MessageGroupId"] = message.group_id or "bus-dead-letters"
        entry["MessageDeduplicationId"] = message.message_id[:128]
    return entry
