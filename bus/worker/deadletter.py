"""Dead letters: what a worker sends to a queue's DLQ when it gives up on a message.

Send first, delete after: the worker deletes the source message only once the DLQ has accepted the
copy (see ``docs/envelope.md``, "Dead letters"). The copy has the original body, the original
``event_type``/``event_version`` attributes (then the other original attributes, as many as fit in
SQS's ten), the FIFO group id, and ``bus.failure``: a JSON record of why the message died.

A copy must fit in SQS's 256 KiB (body and attributes together), like its original: when the
failure record would push it over, its error text is shortened; if that is not enough, the original
attributes other than the routing keys are left out, and as a last resort (an original that alone
nearly fills the limit) the record itself, whose reason the dead-letter log line still carries. So
the copy is never refused for its size.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from bus.worker.message import FAILURE_ATTRIBUTE, Received

Reason = Literal[
    "decode-error",
    "validation-error",
    "unknown-event",
    "no-handler",
    "rejected",
    "handler-error",
    "timeout",
]
REASONS: tuple[Reason, ...] = (
    "decode-error",
    "validation-error",
    "unknown-event",
    "no-handler",
    "rejected",
    "handler-error",
    "timeout",
)
MAX_ERROR_CHARS = 1000
MAX_ATTRIBUTES = 10
FIRST_ATTRIBUTES = ("event_type", "event_version")
MAX_MESSAGE_BYTES = 262_144
"""SQS's limit on a message: body plus every attribute's name, data type and value."""
CUT = "..."


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


def first_failed_at(message: Received, now: datetime, attempt: int | None = None) -> str:
    """Kept across redrives; for a message that failed on earlier attempts, its first receive."""
    earlier = previous_failure(message)
    if earlier is not None:
        return earlier.first_failed_at
    first_ms = message.first_received_ms
    if (attempt or message.receive_count) > 1 and first_ms is not None:
        return utc_iso(datetime.fromtimestamp(first_ms / 1000, UTC))
    return utc_iso(now)


def failure_of(
    message: Received,
    reason: Reason,
    error: BaseException,
    queue: str,
    now: datetime,
    attempt: int | None = None,
) -> Failure:
    """``attempt``: the delivery attempt that failed (default: the receive count; a FIFO message
    tried again in-process counts those tries too)."""
    attempt = message.receive_count if attempt is None else attempt
    return Failure(
        reason=reason,
        error_type=error_type_name(error),
        error=error_text(error),
        attempt=attempt,
        queue=queue,
        message_id=message.message_id,
        first_failed_at=first_failed_at(message, now, attempt),
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


def _original_attributes(
    message: Received, event_type: str | None, event_version: int | None
) -> dict[str, Any]:
    """The original attributes to copy, routing keys first, at most nine."""
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
    return {n: kept[n] for n in order[: MAX_ATTRIBUTES - 1]}


def dead_letter_attributes(
    message: Received, failure: Failure, event_type: str | None, event_version: int | None
) -> dict[str, Any]:
    """The original attributes (routing keys first, at most nine) plus ``bus.failure``."""
    out = _original_attributes(message, event_type, event_version)
    out[FAILURE_ATTRIBUTE] = _failure_attribute(failure)
    return out


def _failure_attribute(failure: Failure) -> dict[str, str]:
    return {"DataType": "String", "StringValue": failure.to_json()}


def _bytes(value: object) -> int:
    return len(value) if isinstance(value, bytes | bytearray) else len(str(value).encode())


def message_size(body: str, attributes: Mapping[str, Mapping[str, Any]]) -> int:
    """The size SQS counts against its limit: the body, each attribute's name, type and value."""
    size = _bytes(body)
    for name, value in attributes.items():
        size += _bytes(name) + _bytes(value.get("DataType", ""))
        for key in ("StringValue", "BinaryValue"):
            if value.get(key) is not None:
                size += _bytes(value[key])
    return size


def _json_length(text: str) -> int:
    return len(json.dumps(text)) - 2  # as ``Failure.to_json`` writes it: ASCII, escaped


def _shortened(failure: Failure, excess: int) -> Failure:
    """``failure`` with at least ``excess`` bytes less of error text (marked as cut), or none."""
    error = failure.error
    budget = _json_length(error) - excess - len(CUT)
    low, high = 0, len(error)
    while low < high:  # the longest beginning of the text that fits the budget
        middle = (low + high + 1) // 2
        if _json_length(error[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return replace(failure, error=error[:low] + CUT if low > 0 else "")


def fitted_attributes(
    message: Received, failure: Failure, event_type: str | None, event_version: int | None
) -> dict[str, Any]:
    """``dead_letter_attributes``, made to fit in ``MAX_MESSAGE_BYTES`` with the body."""
    out = dead_letter_attributes(message, failure, event_type, event_version)
    excess = message_size(message.body, out) - MAX_MESSAGE_BYTES
    while excess > 0 and failure.error:
        failure = _shortened(failure, excess)
        out[FAILURE_ATTRIBUTE] = _failure_attribute(failure)
        excess = message_size(message.body, out) - MAX_MESSAGE_BYTES
    for name in sorted(set(out) - {*FIRST_ATTRIBUTES, FAILURE_ATTRIBUTE}):
        if excess <= 0:
            break
        del out[name]
        excess = message_size(message.body, out) - MAX_MESSAGE_BYTES
    if excess > 0:  # the original alone nearly fills the limit: it goes without the record
        del out[FAILURE_ATTRIBUTE]
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
        "MessageAttributes": fitted_attributes(message, failure, event_type, event_version),
    }
    if fifo:
        entry["MessageGroupId"] = message.group_id or "bus-dead-letters"
        entry["MessageDeduplicationId"] = message.message_id[:128]
    return entry
