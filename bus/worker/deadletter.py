"""Dead letters: what a worker sends to a queue's DLQ when it gives up on a message.

Send first, delete after: the worker deletes the source message only once the DLQ has accepted the
copy (see ``docs/envelope.md``, "Dead letters"). The copy has the original body, the original
``event_type``/``event_version`` attributes (then the other original attributes, as many as fit in
SQS's ten), the FIFO group id, and ``bus.failure``: a record of why the message died
(``bus.aws.failure``).

A copy must fit in the DLQ's own ``MaximumMessageSize`` (read from the DLQ when the worker resolves
its queues; body and attributes together), like its original: when the failure record would push
it over, its error text is shortened; then an untrusted earlier record it carries is cut; if that is
not enough, the original attributes other than the routing keys are left out, and as a last resort
(an original that alone nearly fills the limit) the record itself, whose reason the dead-letter log
line still carries. So the copy is never refused for its size.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal

from bus.aws.failure import (
    FAILURE_ATTRIBUTE,
    MAX_ERROR_CHARS,
    FailureRecord,
    read_failure,
)
from bus.aws.limits import MESSAGE_ATTRIBUTES, SQS_DEFAULT_QUEUE_BYTES, message_size
from bus.aws.sqs import clean_attributes
from bus.worker.message import Received

Reason = Literal[
    "decode-error",
    "validation-error",
    "unknown-event",
    "no-handler",
    "rejected",
    "handler-error",
    "timeout",
    "claim-check-missing",
    "claim-check-too-large",
    "claim-check-refused",
]
REASONS: tuple[Reason, ...] = (
    "decode-error",
    "validation-error",
    "unknown-event",
    "no-handler",
    "rejected",
    "handler-error",
    "timeout",
    "claim-check-missing",
    "claim-check-too-large",
    "claim-check-refused",
)
FIRST_ATTRIBUTES = ("event_type", "event_version")
CUT = "..."

__all__ = [
    "FAILURE_ATTRIBUTE",
    "MAX_ERROR_CHARS",
    "REASONS",
    "FailureRecord",
    "Reason",
    "dead_letter_attributes",
    "dead_letter_entry",
    "error_text",
    "error_type_name",
    "failure_of",
    "fitted_attributes",
    "message_size",
]


def error_type_name(error: BaseException) -> str:
    kind = type(error)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def error_text(error: BaseException) -> str:
    text = str(error) or repr(error)
    return text[:MAX_ERROR_CHARS]


def previous_failure(message: Received, created_at: datetime | None = None) -> FailureRecord | None:
    """The ``bus.failure`` a redriven message still carries from its earlier death, if any,
    checked (``bus.aws.failure.read_failure``): the message was sent no later than its first
    receive, the event created at ``created_at``."""
    first_ms = message.first_received_ms
    sent_by = datetime.fromtimestamp(first_ms / 1000, UTC) if first_ms is not None else None
    return read_failure(
        message.string_attribute(FAILURE_ATTRIBUTE), sent_at=sent_by, created_at=created_at
    )


def _first_failed_at(
    message: Received, earlier: FailureRecord | None, now: datetime, attempt: int
) -> datetime:
    """Kept across redrives; for a message that failed on earlier attempts, its first receive."""
    if earlier is not None and earlier.trusted and earlier.first_failed_at is not None:
        return earlier.first_failed_at
    first_ms = message.first_received_ms
    if attempt > 1 and first_ms is not None:
        return datetime.fromtimestamp(first_ms / 1000, UTC)
    return now


def failure_of(
    message: Received,
    reason: Reason,
    error: BaseException,
    queue: str,
    now: datetime,
    attempt: int | None = None,
    created_at: datetime | None = None,
) -> FailureRecord:
    """``attempt``: the delivery attempt that failed (default: the receive count; a FIFO message
    tried again in-process counts those tries too). ``created_at``: the envelope's ``time``, when
    the body decoded (an earlier record older than its event is not trusted)."""
    attempt = message.receive_count if attempt is None else attempt
    earlier = previous_failure(message, created_at)
    return FailureRecord(
        reason=reason,
        error_type=error_type_name(error),
        error=error_text(error),
        attempt=attempt,
        queue=queue,
        message_id=message.message_id,
        first_failed_at=_first_failed_at(message, earlier, now, attempt),
        failed_at=now,
        previous_untrusted=earlier.raw if earlier is not None and not earlier.trusted else None,
    )


def _original_attributes(
    message: Received, event_type: str | None, event_version: int | None
) -> dict[str, Any]:
    """The original attributes to copy, routing keys first, at most nine."""
    kept = clean_attributes(message.attributes)
    kept.pop(FAILURE_ATTRIBUTE, None)
    if "event_type" not in kept and event_type:
        kept["event_type"] = {"DataType": "String", "StringValue": event_type}
    if "event_version" not in kept and event_version is not None:
        kept["event_version"] = {"DataType": "Number", "StringValue": str(event_version)}
    order = [n for n in FIRST_ATTRIBUTES if n in kept] + sorted(
        n for n in kept if n not in FIRST_ATTRIBUTES
    )
    return {n: kept[n] for n in order[: MESSAGE_ATTRIBUTES - 1]}


def dead_letter_attributes(
    message: Received, failure: FailureRecord, event_type: str | None, event_version: int | None
) -> dict[str, Any]:
    """The original attributes (routing keys first, at most nine) plus ``bus.failure``."""
    out = _original_attributes(message, event_type, event_version)
    out[FAILURE_ATTRIBUTE] = _failure_attribute(failure)
    return out


def _failure_attribute(failure: FailureRecord) -> dict[str, str]:
    return {"DataType": "String", "StringValue": failure.to_attribute()}


def _json_length(text: str) -> int:
    return len(json.dumps(text)) - 2  # as ``to_attribute`` writes it: ASCII, escaped


def _shortened(failure: FailureRecord, excess: int) -> FailureRecord:
    """``failure`` with at least ``excess`` bytes less of error text (marked as cut), or none."""
    error = failure.error or ""
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
    message: Received,
    failure: FailureRecord,
    event_type: str | None,
    event_version: int | None,
    max_bytes: int = SQS_DEFAULT_QUEUE_BYTES,
) -> dict[str, Any]:
    """``dead_letter_attributes``, made to fit in ``max_bytes`` (the DLQ's ``MaximumMessageSize``)
    with the body."""
    out = dead_letter_attributes(message, failure, event_type, event_version)
    room = max_bytes - message_size(message.body, None)

    def excess() -> int:
        return message_size("", out) - room

    while excess() > 0 and failure.error:
        failure = _shortened(failure, excess())
        out[FAILURE_ATTRIBUTE] = _failure_attribute(failure)
    if excess() > 0 and failure.previous_untrusted:
        failure = replace(failure, previous_untrusted=CUT)
        out[FAILURE_ATTRIBUTE] = _failure_attribute(failure)
    for name in sorted(set(out) - {*FIRST_ATTRIBUTES, FAILURE_ATTRIBUTE}):
        if excess() <= 0:
            break
        del out[name]
    if excess() > 0:  # the original alone nearly fills the limit: it goes without the record
        del out[FAILURE_ATTRIBUTE]
    return out


def dead_letter_entry(
    message: Received,
    failure: FailureRecord,
    *,
    fifo: bool,
    event_type: str | None = None,
    event_version: int | None = None,
    max_bytes: int = SQS_DEFAULT_QUEUE_BYTES,
) -> dict[str, Any]:
    """SendMessage arguments for the DLQ copy of ``message``; ``max_bytes``: the DLQ's
    ``MaximumMessageSize`` (``QueueInfo.dlq_max_bytes``).

    On FIFO DLQs the group id is the original's; the deduplication id is the *source message id*,
    unique per delivered message, so a message that dies twice within SQS's five-minute
    deduplication window (redriven and failing again) is never dropped as a duplicate, while a
    worker that sends the same dead letter twice (it crashed between send and delete) is.
    """
    entry: dict[str, Any] = {
        "MessageBody": message.body,
        "MessageAttributes": fitted_attributes(
            message, failure, event_type, event_version, max_bytes
        ),
    }
    if fifo:
        entry["MessageGroupId"] = message.group_id or "bus-dead-letters"
        entry["MessageDeduplicationId"] = message.message_id[:128]
    return entry
